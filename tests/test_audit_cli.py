"""`pacedial audit` over real PostgreSQL: clean records pass, each broken record is found."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer_core.face.audit_cli import audit_campaign, main
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.dnc import add_entry
from dialer_core.store.seed import add_attempt, add_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALLER = "+862088880000"
PHONE_A, PHONE_B = "+8613800130001", "+8613912340002"


def doc(name: str, **extra) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive"},
        "dialing": {"caller_id": CALLER},
        "compliance": {"preset": "cn"},
        **extra,
    }


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """2025-06-<day> hour:minute in Shanghai, as UTC."""
    return datetime(2025, 6, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Seeded:
    """A campaign with cases and phones, and a way to write attempt rows as the runner does."""

    def __init__(self, conn, campaign_id: int) -> None:
        self.conn, self.campaign_id = conn, campaign_id
        self.phones: dict[str, tuple[int, int]] = {}  # e164 → (case id, phone id)

    @classmethod
    async def create(cls, conn, name: str, cases: dict[str, list[str]], **extra) -> Seeded:
        cid = await ensure_campaign(conn, name, "progressive", doc(name, **extra))
        self = cls(conn, cid)
        for external, phones in cases.items():
            case = await add_case(
                conn, cid, external, phones, debtor_name="张伟", amount_minor=120000,
                days_past_due=30,
            )  # fmt: skip
            for e164, pid in zip(phones, case.phone_ids, strict=True):
                self.phones[e164] = (case.id, pid)
        return self

    async def attempt(
        self,
        e164: str,
        at: datetime,
        disposition: str,
        *,
        talked: bool = False,
        abandoned: bool = False,
        caller_id: str = CALLER,
    ) -> None:
        case_id, phone_id = self.phones[e164]
        answered = at + timedelta(seconds=10) if talked or abandoned else None
        await add_attempt(
            self.conn,
            self.campaign_id,
            case_id,
            phone_id,
            caller_id=caller_id,
            runner="test",
            created_at=at,
            answered_at=answered,
            ended_at=at + timedelta(seconds=60),
            disposition=disposition,
            abandoned=abandoned,
        )


async def run_main(dsn: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await asyncio.to_thread(main, ["--database", dsn, *argv], out)
    return code, out.getvalue()


async def test_compliant_records_give_zero_violations_and_exit_0(db, db_dsn):
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "clean", {"C1": [PHONE_A], "C2": [PHONE_B]})
        await s.attempt(PHONE_A, local(3, 9), "no_answer")
        await s.attempt(PHONE_A, local(3, 11, 30), "busy")
        await s.attempt(PHONE_A, local(3, 12), "agent_talked", talked=True)
        await s.attempt(PHONE_B, local(3, 20, 59), "no_answer")
        await s.attempt(PHONE_B, local(4, 10, 0), "powered_off")
    code, text = await run_main(db_dsn, "--campaign", "clean")
    assert code == 0, text
    assert text.strip().endswith("5 attempts, 0 violations")


async def test_call_at_2330_callee_local_is_a_window_violation_with_masked_phone(db, db_dsn):
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "late", {"C1": [PHONE_A]})
        await s.attempt(PHONE_A, local(3, 10), "agent_talked", talked=True)
        await s.attempt(PHONE_A, local(3, 23, 30), "no_answer")
    code, text = await run_main(db_dsn, "--campaign", "late")
    assert code == 1
    lines = text.strip().splitlines()
    assert len(lines) == 2 and lines[-1].endswith("2 attempts, 1 violation")
    assert " window " in lines[0] and "local Tue 2025-06-03 23:30 CST" in lines[0]
    assert "case C1" in lines[0] and "*******0001" in lines[0]
    assert PHONE_A not in text and PHONE_A[1:] not in text


async def test_fourth_conversation_the_same_day_breaks_the_cn_cap(db):
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "talks", {"C1": [PHONE_A, PHONE_B]})
        # Two phones so no per-phone cap (3 a day) is reached: only the conversation cap.
        for hour, phone in ((9, PHONE_A), (10, PHONE_B), (11, PHONE_A), (12, PHONE_B)):
            await s.attempt(phone, local(3, hour), "agent_talked", talked=True)
    report = await audit_campaign(db, "talks")
    assert [(v.code, v.at) for v in report.violations] == [("cap.connected_day", local(3, 12))]
    assert "3 of 3 conversations today" in report.violations[0].detail


async def test_redial_too_soon_and_phone_cap_are_found(db):
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "redial", {"C1": [PHONE_A], "C2": [PHONE_B]})
        await s.attempt(PHONE_A, local(3, 9), "busy")
        await s.attempt(PHONE_A, local(3, 9, 5), "busy")  # busy: 10 minutes
        for hour in (9, 13, 17):
            await s.attempt(PHONE_B, local(3, hour), "busy")
        await s.attempt(PHONE_B, local(3, 20, 30), "busy")  # 4th call of the day
    report = await audit_campaign(db, "redial")
    found = [(v.code, v.at) for v in report.violations]
    assert ("redial", local(3, 9, 5)) in found
    assert ("cap.phone_day", local(3, 20, 30)) in found
    assert len(found) == 2


async def test_dnc_binds_only_calls_made_after_the_entry_existed(db):
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "dnc", {"C1": [PHONE_A], "C2": [PHONE_B]})
        await s.attempt(PHONE_A, local(3, 9), "refused")
        await s.attempt(PHONE_A, local(5, 9), "refused")
        await s.attempt(PHONE_B, local(3, 9), "no_answer")
        await add_entry(conn, PHONE_A, "global", created_at=local(4, 12))
        await add_entry(conn, "+86139*", "other", created_at=local(1, 12))
    report = await audit_campaign(db, "dnc")
    assert [(v.code, v.at) for v in report.violations] == [("dnc", local(5, 9))]
    assert "(global)" in report.violations[0].detail


async def test_caller_id_is_checked_against_the_fixed_number_and_the_local_pool(db):
    pool = {
        "numbers": [
            {"number": "+861088880001", "province": "Beijing", "city": "Beijing"},
            {"number": "+862088880001", "province": "Guangdong"},
        ]
    }
    async with db.acquire() as conn:
        fixed = await Seeded.create(conn, "fixed-cid", {"C1": [PHONE_A]})
        await fixed.attempt(PHONE_A, local(3, 9), "no_answer", caller_id="+862099990000")
        local_pool = await Seeded.create(conn, "pool-cid", {"C2": [PHONE_A]}, callerid=pool)
        await local_pool.attempt(PHONE_A, local(3, 9), "busy", caller_id="+861088880001")
        await local_pool.attempt(PHONE_A, local(3, 10), "busy", caller_id="+862088880001")
    report = await audit_campaign(db, "fixed-cid")
    assert [v.code for v in report.violations] == ["caller_id"]
    assert "not the campaign's +862088880000" in report.violations[0].detail
    report = await audit_campaign(db, "pool-cid")
    assert [(v.code, v.at) for v in report.violations] == [("caller_id", local(3, 10))]
    assert "Guangdong" in report.violations[0].detail


async def test_abandon_rate_above_target_over_24h_is_reported(db):
    phones = {f"C{i}": [f"+86138001{30000 + i:05d}"] for i in range(40)}
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "drops", phones)
        for i, (_, (number,)) in enumerate(phones.items()):
            dropped = i % 8 == 0  # 5 of 40 = 12.5% > 3%
            at = local(3, 9, 0) + timedelta(minutes=10 * i)
            disp = "abandoned" if dropped else "agent_talked"
            await s.attempt(number, at, disp, talked=not dropped, abandoned=dropped)
    report = await audit_campaign(db, "drops")
    assert [v.code for v in report.violations] == ["abandon_rate"]
    m = re.match(r"5/(\d+) = ", report.violations[0].detail)  # the worst 24 h window
    assert m is not None and 30 <= int(m.group(1)) <= 40, report.violations[0].detail


async def test_period_filter_reports_only_inside_but_replays_the_history_before(db, db_dsn):
    async with db.acquire() as conn:
        s = await Seeded.create(conn, "period", {"C1": [PHONE_A]})
        await s.attempt(PHONE_A, local(2, 23, 0), "busy")  # out of window, before the period
        for hour in (9, 13, 17):
            await s.attempt(PHONE_A, local(3, hour), "busy")
        await s.attempt(PHONE_A, local(3, 19), "busy")  # 4th that local day
    # The 09:00 call is before the period but still counts toward the 19:00 call's day cap.
    code, text = await run_main(db_dsn, "--campaign", "period", "--from", "2025-06-03T12:00+08:00")
    assert code == 1
    assert "cap.phone_day" in text and " window " not in text
    assert text.strip().endswith("3 attempts, 1 violation")
    code, text = await run_main(
        db_dsn, "--campaign", "period", "--from", "2025-06-01", "--to", "2025-06-02"
    )
    assert code == 1 and " window " in text and "cap.phone_day" not in text
    assert text.strip().endswith("1 attempt, 1 violation")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--campaign", "nope"], "no campaign named 'nope'"),
        (["--campaign", "x", "--from", "June"], "--from: expected YYYY-MM-DD"),
    ],
)
async def test_unusable_input_exits_2_with_a_reason(db, db_dsn, capsys, argv, message):
    async with db.acquire() as conn:
        await ensure_campaign(conn, "x", "progressive", None)
    code, _ = await run_main(db_dsn, *argv)
    assert code == 2
    assert message in capsys.readouterr().err


async def test_campaign_without_stored_config_needs_config_file(db, db_dsn, capsys, tmp_path):
    async with db.acquire() as conn:
        await ensure_campaign(conn, "bare", "progressive", None)
    code, _ = await run_main(db_dsn, "--campaign", "bare")
    assert code == 2 and "pass --config" in capsys.readouterr().err
    toml = tmp_path / "bare.toml"
    toml.write_text('[campaign]\nname = "bare"\n[compliance]\npreset = "cn"\n', encoding="utf-8")
    code, text = await run_main(db_dsn, "--campaign", "bare", "--config", str(toml))
    assert code == 0 and "0 violations" in text
