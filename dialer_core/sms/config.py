"""A campaign's ``[sms]`` table: template, webhook, triggers, caps, hours and retries.

[sms]
webhook = "https://sms-gateway.example.cn/send"
template = "sms/reminder.txt"        # relative to the campaign file (or text = "...")
link = "https://pay.example.cn/c/{external_id}"
hours = "09:00-20:00"                # default: the campaign's compliance window
[sms.triggers]
no_answer_streak = 3                 # false disables a trigger
after_promise = "1h"
days_before_due = 2
[sms.caps]
per_case_day = 1
per_case_7d = 3
[sms.retry]
attempts = 4                         # POSTs per message, the first included
first_delay = "1s"                   # then x factor each time, at most max_delay
factor = 2
max_delay = "30s"
retry_failed_after = "1h"            # a message that gave up may be tried again after this
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from yarl import URL

from dialer_core.compliance.hours import HoursError, WeeklyHours
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.compliance.sms import SmsRules, SmsTemplate, parse_template
from dialer_core.compliance.windows import WindowRules
from dialer_core.config_errors import ConfigError, parse_duration, reject_unknown, take

_TOP = {
    "enabled",
    "webhook",
    "template",
    "text",
    "link",
    "hours",
    "timeout",
    "auth_env",
    "concurrency",
    "dnc",
    "triggers",
    "caps",
    "retry",
}
_TRIGGERS = {"no_answer_streak", "after_promise", "days_before_due"}
_CAPS = {"per_case_day", "per_case_7d"}
_RETRY = {"attempts", "first_delay", "factor", "max_delay", "retry_failed_after"}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``attempts`` POSTs, waiting first_delay × factor^k (capped)."""

    attempts: int = 4
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    retry_failed_after: timedelta = timedelta(hours=1)

    def delays(self) -> tuple[timedelta, ...]:
        """The waits before the 2nd, 3rd … POST."""
        return tuple(
            timedelta(seconds=min(self.first_delay * self.factor**k, self.max_delay))
            for k in range(self.attempts - 1)
        )


@dataclass(frozen=True)
class SmsConfig:
    """Everything ``run_sms_cycle`` needs for one campaign."""

    webhook: str
    template: SmsTemplate
    rules: SmsRules
    window: WindowRules
    link: str = ""  # "{external_id}" is replaced; a case's extra.link wins
    timeout: float = 10.0
    auth_env: str = ""  # environment variable holding a bearer token (never in the file)
    concurrency: int = 4
    respect_dnc: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def uses(self) -> frozenset[str]:
        """The placeholders the template uses."""
        return template_fields(self.template.text)


def template_fields(text: str) -> frozenset[str]:
    """The placeholder names in a (checked) template."""
    return frozenset(f for _, f, _, _ in string.Formatter().parse(text) if f)


def _opt_count(table: dict, key: str, default: int | None, source: str, prefix: str) -> int | None:
    if key not in table:
        return default
    value = table[key]
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(source, f"{prefix}{key}", "a positive integer or false", value)
    return value


def _webhook(value: Any, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(source, "sms.webhook", "the gateway's http(s) URL", value)
    try:
        url = URL(value)
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(source, "sms.webhook", "an http:// or https:// URL with a host", value)
    return value


def _template(t: dict, source: str, base_dir: Path) -> SmsTemplate:
    if ("template" in t) == ("text" in t):
        raise ConfigError(source, "sms.template", "a template file (or sms.text), exactly one")
    if "text" in t:
        text = take(t, "text", str, "", source, "sms.")
        return parse_template(text, f"{source}: sms.text")
    raw = take(t, "template", str, "", source, "sms.")
    path = Path(raw)
    if not path.is_absolute():
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            source, "sms.template", f"a readable UTF-8 file ({reason})", str(path)
        ) from None
    return parse_template(text, str(path))


def _window(t: dict, source: str, campaign_window: WindowRules) -> WindowRules:
    if "hours" not in t:
        return campaign_window
    value = t["hours"]
    if not isinstance(value, str | Mapping):
        raise ConfigError(source, "sms.hours", '"HH:MM-HH:MM" or a table of days', value)
    try:
        hours = WeeklyHours.from_table(value)
    except HoursError as exc:
        raise ConfigError(source, "sms.hours", f"valid hours ({exc})", value) from None
    # Own hours, but the campaign's holidays and legal envelope still apply.
    return WindowRules(hours, {}, campaign_window.holidays, campaign_window.limit)


def _rules(t: dict, source: str, retry: RetryPolicy) -> SmsRules:
    trig = take(t, "triggers", dict, {}, source, "sms.")
    reject_unknown(trig, _TRIGGERS, source, "sms.triggers.")
    caps = take(t, "caps", dict, {}, source, "sms.")
    reject_unknown(caps, _CAPS, source, "sms.caps.")
    base = SmsRules()
    after_promise = base.after_promise
    if "after_promise" in trig:
        v = trig["after_promise"]
        after_promise = (
            None
            if v is False
            else timedelta(seconds=parse_duration(v, source, "sms.triggers.after_promise"))
        )
    days = base.days_before_due
    if "days_before_due" in trig:
        v = trig["days_before_due"]
        if v is False:
            days = None
        elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(
                source, "sms.triggers.days_before_due", "a non-negative integer or false", v
            )
        else:
            days = v
    per_day = _opt_count(caps, "per_case_day", base.per_case_day, source, "sms.caps.")
    per_week = _opt_count(caps, "per_case_7d", base.per_case_7d, source, "sms.caps.")
    big = 1_000_000  # "false" disables a cap
    return SmsRules(
        after_no_answer_streak=_opt_count(
            trig, "no_answer_streak", base.after_no_answer_streak, source, "sms.triggers."
        ),
        after_promise=after_promise,
        days_before_due=days,
        per_case_day=big if per_day is None else per_day,
        per_case_7d=big if per_week is None else per_week,
        retry_delays=retry.delays(),
    )


def _retry(t: dict, source: str) -> RetryPolicy:
    r = take(t, "retry", dict, {}, source, "sms.")
    reject_unknown(r, _RETRY, source, "sms.retry.")
    attempts = take(r, "attempts", int, 4, source, "sms.retry.")
    if not 1 <= attempts <= 10:
        raise ConfigError(source, "sms.retry.attempts", "an integer from 1 to 10", attempts)
    factor = take(r, "factor", float, 2.0, source, "sms.retry.")
    if not 1.0 <= factor <= 10.0:
        raise ConfigError(source, "sms.retry.factor", "a number from 1 to 10", factor)
    first = parse_duration(r.get("first_delay", 1), source, "sms.retry.first_delay")
    max_delay = parse_duration(r.get("max_delay", 30), source, "sms.retry.max_delay")
    if max_delay < first:
        raise ConfigError(
            source, "sms.retry.max_delay", f"at least first_delay ({first}s)", max_delay
        )
    again = parse_duration(
        r.get("retry_failed_after", 3600), source, "sms.retry.retry_failed_after"
    )
    return RetryPolicy(attempts, first, factor, max_delay, timedelta(seconds=again))


def load_sms(
    table: Mapping[str, Any] | None,
    source: str,
    campaign_window: WindowRules,
    base_dir: str | Path | None = None,
) -> SmsConfig | None:
    """Parse ``[sms]`` (None or ``enabled = false``: no reminders).

    Errors name ``source``, the key and what was expected; template errors name the template
    file and line. A relative template path resolves against ``base_dir`` (default: the
    directory of ``source``).
    """
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(source, "sms", "a table", table)
    t = dict(table)
    reject_unknown(t, _TOP, source, "sms.")
    if not take(t, "enabled", bool, True, source, "sms."):
        return None
    webhook = _webhook(t.get("webhook"), source)
    bdir = Path(base_dir) if base_dir is not None else Path(source).parent
    template = _template(t, source, bdir)
    link = take(t, "link", str, "", source, "sms.")
    uses = template_fields(template.text)
    if "link" in uses and not link:
        raise ConfigError(source, "sms.link", "a repayment link URL (the template uses {link})")
    if link and not template_fields(link) <= {"external_id"}:
        raise ConfigError(source, "sms.link", "a URL whose only placeholder is {external_id}", link)
    timeout = parse_duration(t.get("timeout", 10), source, "sms.timeout")
    if not 0 < timeout <= 120:
        raise ConfigError(source, "sms.timeout", "between 0 and 120 seconds", timeout)
    concurrency = take(t, "concurrency", int, 4, source, "sms.")
    if not 1 <= concurrency <= 64:
        raise ConfigError(source, "sms.concurrency", "an integer from 1 to 64", concurrency)
    retry = _retry(t, source)
    return SmsConfig(
        webhook=webhook,
        template=template,
        rules=_rules(t, source, retry),
        window=_window(t, source, campaign_window),
        link=link,
        timeout=timeout,
        auth_env=take(t, "auth_env", str, "", source, "sms."),
        concurrency=concurrency,
        respect_dnc=take(t, "dnc", bool, True, source, "sms."),
        retry=retry,
    )


class SmsCampaign(Protocol):
    """What the reminders read of a campaign (dialer_core.campaign.config.CampaignConfig)."""

    @property
    def name(self) -> str: ...

    @property
    def raw(self) -> Mapping[str, Any]: ...

    @property
    def compliance(self) -> ComplianceRules: ...


def sms_config_for(campaign: SmsCampaign, base_dir: str | Path | None = None) -> SmsConfig | None:
    """The reminders of a parsed campaign (its ``[sms]`` table), or None when it has none."""
    return load_sms(
        campaign.raw.get("sms"),
        f"campaign {campaign.name}",
        campaign.compliance.window,
        base_dir if base_dir is not None else Path.cwd(),
    )
