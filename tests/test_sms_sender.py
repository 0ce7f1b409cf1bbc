"""The SMS webhook sender against a local gateway, and the ``[sms]`` table's validation."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from sms_gateway import Gateway, closed_port_url

from dialer_core.compliance.rules import ComplianceRules
from dialer_core.compliance.sms import TemplateError
from dialer_core.config_errors import ConfigError
from dialer_core.sms import RetryPolicy, load_sms, post_with_retries

DELAYS = (timedelta(seconds=0.01), timedelta(seconds=0.02), timedelta(seconds=0.04))
WINDOW = ComplianceRules().window


class Sleeps:
    """Records the backoff waits instead of spending them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def send(url: str, sleeps: Sleeps, token: str = ""):
    async with aiohttp.ClientSession() as session:
        return await post_with_retries(
            session,
            url,
            {"to": "+8613800130001", "text": "hi"},
            delays=DELAYS,
            timeout=2.0,
            idempotency_key="k-1",
            token=token,
            sleep=sleeps,
        )


async def test_accepted_at_once_is_one_try_with_key_and_token():
    sleeps = Sleeps()
    async with Gateway() as gw:
        out = await send(gw.url, sleeps, token="s3cret")
    assert (out.status, out.tries, out.response_code, out.error) == ("sent", 1, 200, "")
    headers, body = gw.requests[0]
    assert body == {"to": "+8613800130001", "text": "hi"}
    assert headers["Idempotency-Key"] == "k-1"
    assert headers["Authorization"] == "Bearer s3cret"
    assert sleeps.waits == []


async def test_500_then_success_is_sent_on_the_second_try_with_the_same_key():
    sleeps = Sleeps()
    async with Gateway(script=[500]) as gw:
        out = await send(gw.url, sleeps)
    assert (out.status, out.tries, out.response_code) == ("sent", 2, 200)
    assert sleeps.waits == [0.01]
    assert [h["Idempotency-Key"] for h, _ in gw.requests] == ["k-1", "k-1"]


async def test_permanent_refusal_fails_at_once_with_the_gateway_message():
    sleeps = Sleeps()
    async with Gateway(script=[400]) as gw:
        out = await send(gw.url, sleeps)
    assert (out.status, out.tries, out.response_code) == ("failed", 1, 400)
    assert out.error == "HTTP 400 from 127.0.0.1: error 400: number rejected"
    assert sleeps.waits == [] and len(gw.requests) == 1


async def test_gateway_down_backs_off_exponentially_then_gives_up():
    sleeps = Sleeps()
    async with Gateway(script=[503, 502, 500, 503, 200]) as gw:
        out = await send(gw.url, sleeps)
    assert (out.status, out.tries, out.response_code) == ("gave_up", 4, 503)
    assert sleeps.waits == [0.01, 0.02, 0.04]
    assert len(gw.requests) == 4


async def test_connection_refused_is_retried_and_reported_without_status():
    sleeps = Sleeps()
    out = await send(closed_port_url(), sleeps)
    assert (out.status, out.tries, out.response_code) == ("gave_up", 4, None)
    assert "127.0.0.1" in out.error and "Client" in out.error
    assert len(sleeps.waits) == 3


async def test_retry_after_lengthens_the_wait():
    sleeps = Sleeps()
    async with Gateway(script=[429], retry_after="3") as gw:
        out = await send(gw.url, sleeps)
    assert (out.status, out.tries) == ("sent", 2)
    assert sleeps.waits == [3.0]


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(attempts=5, first_delay=1.0, factor=2.0, max_delay=5.0)
    assert [d.total_seconds() for d in policy.delays()] == [1.0, 2.0, 4.0, 5.0]
    assert RetryPolicy(attempts=1).delays() == ()


def full_table(tmp_path) -> dict:
    (tmp_path / "reminder.txt").write_text(
        "{name}，您的欠款 {amount} 元\n请于 {due_date} 前还款：{link}\n", encoding="utf-8"
    )
    return {
        "webhook": "https://sms.example.cn/send",
        "template": "reminder.txt",
        "link": "https://pay.example.cn/c/{external_id}",
        "hours": "09:00-20:00",
        "triggers": {"no_answer_streak": 2, "after_promise": "30m", "days_before_due": False},
        "caps": {"per_case_day": 2, "per_case_7d": False},
        "retry": {"attempts": 3, "first_delay": "2s", "factor": 3, "max_delay": "1m"},
    }


def test_a_full_sms_table_parses(tmp_path):
    cfg = load_sms(full_table(tmp_path), str(tmp_path / "camp.toml"), WINDOW)
    assert cfg is not None
    assert cfg.rules.after_no_answer_streak == 2
    assert cfg.rules.after_promise == timedelta(minutes=30)
    assert cfg.rules.days_before_due is None
    assert cfg.rules.per_case_day == 2 and cfg.rules.per_case_7d > 1000
    assert cfg.rules.retry_delays == (timedelta(seconds=2), timedelta(seconds=6))
    assert cfg.window.hours.on(0) == ((540, 1200),)
    assert cfg.uses == {"name", "amount", "due_date", "link"}
    assert load_sms({**full_table(tmp_path), "enabled": False}, "c.toml", WINDOW) is None
    assert load_sms(None, "c.toml", WINDOW) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trigers": {}}, "camp.toml: sms.trigers: expected one of"),
        ({"webhook": "ftp://x"}, "camp.toml: sms.webhook: expected an http:// or https:// URL"),
        ({"triggers": {"days_before_due": -1}}, "sms.triggers.days_before_due: expected a non-neg"),
        ({"triggers": {"after_promise": "soon"}}, "sms.triggers.after_promise: expected a dur"),
        ({"caps": {"per_case_day": 0}}, "sms.caps.per_case_day: expected a positive integer"),
        ({"retry": {"attempts": 0}}, "sms.retry.attempts: expected an integer from 1 to 10"),
        ({"link": ""}, "sms.link: expected a repayment link URL (the template uses {link})"),
        ({"link": "https://p/{case}"}, "sms.link: expected a URL whose only placeholder"),
        ({"template": "missing.txt"}, "sms.template: expected a readable UTF-8 file"),
        ({"text": "hi"}, "sms.template: expected a template file (or sms.text), exactly one"),
        ({"hours": "9-5"}, "sms.hours: expected valid hours"),
    ],
)
def test_bad_sms_tables_name_file_and_key(tmp_path, change, message):
    table = {**full_table(tmp_path), **change}
    with pytest.raises(ConfigError) as err:
        load_sms(table, "camp.toml", WINDOW, tmp_path)
    assert message in str(err.value)


def test_bad_template_names_the_template_file_and_line(tmp_path):
    table = full_table(tmp_path)
    (tmp_path / "reminder.txt").write_text("您好 {name}\n欠款 {amont} 元\n", encoding="utf-8")
    with pytest.raises(TemplateError) as err:
        load_sms(table, "camp.toml", WINDOW, tmp_path)
    text = str(err.value)
    assert text.startswith(str(tmp_path / "reminder.txt")) and "line 2" in text
    assert "{amont}" in text
