"""The cycle report against a real PostgreSQL: hand-built attempts with known answers."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from dialer_core.dpd import dpd_bucket
from dialer_core.face.report_cli import main as report_main
from dialer_core.period import PeriodError, bin_seconds, day_slices, local_period
from dialer_core.reports.cycle import ReportError, build_cycle_report, write_cycle_report
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.seed import add_attempt as seed_attempt
from dialer_core.store.seed import add_case as seed_case

SH = ZoneInfo("Asia/Shanghai")
D1, D2 = date(2025, 3, 1), date(2025, 3, 2)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SH)


_NUMBERS = itertools.count(1)


async def add_case(conn, campaign_id: int, ext: str, dpd: int, province: str) -> tuple[int, int]:
    case = await seed_case(
        conn,
        campaign_id,
        ext,
        [f"+86138{next(_NUMBERS):08d}"],
        phone={"country": "CN", "province": province},
        debtor_name="d",
        days_past_due=dpd,
    )
    return case.id, case.phone_id


async def add_attempt(
    conn,
    campaign_id: int,
    case: tuple[int, int],
    attempt_no: int,
    caller_id: str,
    at: datetime,
    disposition: str,
    *,
    answered: bool = False,
    pbx_result: str | None = None,
    talk: float = 0.0,
    agent: str = "",
    abandoned: bool = False,
    detail: dict | None = None,
    ended: datetime | None = None,
) -> None:
    await seed_attempt(
        conn,
        campaign_id,
        case[0],
        case[1],
        attempt_no=attempt_no,
        caller_id=caller_id,
        runner="t",
        created_at=at,
        answered_at=at + timedelta(seconds=8) if answered else None,
        ended_at=ended or at + timedelta(seconds=30),
        pbx_result=pbx_result or ("answered" if answered else disposition),
        disposition=disposition,
        talk_seconds=talk,
        agent=agent,
        abandoned=abandoned,
        detail=detail or {},
    )


async def seed(db) -> None:
    """Ten attempts; the expected figures are worked out in the tests below."""
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "spring")
        other = await ensure_campaign(conn, "other")
        c1 = await add_case(conn, cid, "c1", 0, "Guangdong")  # M0
        c2 = await add_case(conn, cid, "c2", 45, "Fujian")  # M2
        c3 = await add_case(conn, cid, "c3", 200, "")  # M7, region unknown
        x = await add_case(conn, other, "x", 10, "Hunan")
        a, b = "+8675500000001", "+8675500000002"
        robot = {"handled_by": "robot"}
        await add_attempt(conn, cid, c1, 1, a, local(D1, 9, 10), "no_answer")
        await add_attempt(
            conn, cid, c1, 2, b, local(D1, 10, 5), "promise_to_pay", answered=True, talk=60,
            detail={**robot, "robot_outcome": "promise_to_pay", "ptp_amount_minor": 5000,
                    "ptp_date": "2025-03-05"},
        )  # fmt: skip
        await add_attempt(
            conn, cid, c2, 1, a, local(D1, 10, 30), "agent_talked", answered=True, talk=120,
            agent="ann", ended=local(D1, 10, 33),
        )  # fmt: skip
        await add_attempt(
            conn, cid, c2, 2, a, local(D1, 11), "abandoned", answered=True, abandoned=True
        )
        await add_attempt(
            conn, cid, c3, 1, b, local(D2, 9), "wrong_party", answered=True, talk=15,
            detail={**robot, "robot_outcome": "wrong_party"},
        )  # fmt: skip
        await add_attempt(
            conn, cid, c3, 2, b, local(D2, 9, 30), "agent_talked", answered=True, talk=300,
            agent="ann", ended=local(D2, 9, 36),
            detail={"agent_outcome": "promise_to_pay", "ptp_amount_minor": 7000},
        )  # fmt: skip
        await add_attempt(
            conn, cid, c1, 3, a, local(D2, 23, 30), "machine", answered=True, pbx_result="machine",
            talk=20,
        )  # fmt: skip
        await add_attempt(
            conn, cid, c2, 3, b, local(D2, 14), "agent_talked", answered=True, talk=100,
            agent="bob", ended=local(D2, 14) + timedelta(seconds=110),
            detail={"handled_by": "human", "right_party": False},
        )  # fmt: skip
        # Just after midnight on D3 in Shanghai (still D2 in UTC), and another campaign's call.
        await add_attempt(conn, cid, c1, 4, a, local(date(2025, 3, 3), 0, 10), "busy")
        await add_attempt(conn, other, x, 1, a, local(D1, 12), "no_answer")


def rows(report, table: str) -> dict[str, object]:
    return {g.key: g.metrics for g in report.table(table).rows}


async def test_totals_count_contacts_right_party_promises_and_abandons(db):
    await seed(db)
    r = await build_cycle_report(db, "spring", D1, D2, tz="Asia/Shanghai")
    t = r.total
    assert (t.attempts, t.contacts, t.right_party, t.promises) == (8, 6, 3, 2)
    assert t.promised_minor == 12000
    assert (t.abandoned, t.robot, t.human) == (1, 2, 3)
    assert t.abandon_rate == pytest.approx(1 / 6)
    assert t.contact_rate == pytest.approx(6 / 8)
    assert t.talk_seconds == pytest.approx(595)  # the machine's 20 s are not talk
    assert t.human_talk_seconds == pytest.approx(520)


async def test_breakdowns_by_region_bucket_caller_hour_attempt_day_and_handler(db):
    await seed(db)
    r = await build_cycle_report(db, "spring", D1, D2, tz="Asia/Shanghai")
    region = rows(r, "by_region")
    assert {k: (m.attempts, m.contacts) for k, m in region.items()} == {
        "Guangdong": (3, 1),
        "Fujian": (3, 3),
        "(unknown)": (2, 2),
    }
    assert region["Fujian"].right_party == 1  # ann's call; abandoned and bob's override are not
    bucket = rows(r, "by_dpd_bucket")
    assert {k: m.attempts for k, m in bucket.items()} == {"M0": 3, "M2": 3, "M7": 2}
    assert bucket["M7"].promised_minor == 7000
    caller = rows(r, "by_caller_id")
    assert {k: m.attempts for k, m in caller.items()} == {
        "+8675500000001": 4,
        "+8675500000002": 4,
    }
    assert (caller["+8675500000001"].promises, caller["+8675500000002"].promises) == (0, 2)
    hour = rows(r, "by_hour")
    assert {k: m.attempts for k, m in hour.items()} == {"9": 3, "10": 2, "11": 1, "14": 1, "23": 1}
    assert [g.key for g in r.table("by_hour").rows] == ["9", "10", "11", "14", "23"]
    attempt = rows(r, "by_attempt_no")
    assert {k: m.attempts for k, m in attempt.items()} == {"1": 3, "2": 3, "3": 2}
    assert attempt["2"].abandoned == 1
    day = rows(r, "by_day")
    assert {k: m.attempts for k, m in day.items()} == {"2025-03-01": 4, "2025-03-02": 4}
    handler = rows(r, "robot_vs_human")
    assert {k: m.attempts for k, m in handler.items()} == {"robot": 2, "human": 3, "none": 3}
    assert handler["robot"].promises == 1 and handler["human"].promises == 1


async def test_agent_days_and_agents_have_talk_span_and_utilization(db):
    await seed(db)
    r = await build_cycle_report(db, "spring", D1, D2, tz="Asia/Shanghai")
    days = {(g.agent, g.day): g.metrics for g in r.table("agent_days").rows}
    assert set(days) == {("ann", D1), ("ann", D2), ("bob", D2)}
    assert days[("ann", D1)].span_seconds == pytest.approx(180)
    assert days[("ann", D1)].utilization == pytest.approx(120 / 180)
    assert days[("ann", D2)].human_talk_seconds == pytest.approx(300)
    agents = {g.agent: g for g in r.table("agents").rows}
    assert agents["ann"].days == 2 and agents["ann"].metrics.attempts == 2
    assert agents["ann"].metrics.utilization == pytest.approx(420 / 540)
    assert agents["bob"].days == 1
    assert r.agent_days is not None and r.agent_days.days == 3
    assert r.agent_days.metrics.attempts == 3


async def test_days_follow_the_report_time_zone(db):
    await seed(db)
    utc = await build_cycle_report(db, "spring", D1, D2, tz="UTC")
    # The D3 00:10 Shanghai call is D2 16:10 UTC; the D1 09:10 Shanghai call is still D1 UTC.
    assert utc.total.attempts == 9
    assert rows(utc, "by_hour")["16"].attempts == 1
    one_day = await build_cycle_report(db, "spring", D2, D2, tz="Asia/Shanghai")
    assert one_day.total.attempts == 4


async def test_sql_dpd_buckets_match_the_router(db):
    dpds = [0, 1, 30, 31, 60, 61, 90, 150, 180, 181, 999]
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "b")
        for i, dpd in enumerate(dpds):
            case = await add_case(conn, cid, f"b{i}", dpd, "Hunan")
            await add_attempt(conn, cid, case, 1, "x", local(D1, 10), "busy")
    r = await build_cycle_report(db, "b", D1, D1, tz="Asia/Shanghai")
    assert {k: m.attempts for k, m in rows(r, "by_dpd_bucket").items()} == dict(
        Counter(dpd_bucket(d) for d in dpds)
    )


async def test_an_empty_period_gives_zero_totals(db):
    await seed(db)
    r = await build_cycle_report(db, "spring", date(2024, 1, 1), date(2024, 1, 1))
    assert r.total.attempts == 0 and r.table("by_region").rows == ()


async def test_unknown_campaign_and_bad_period_are_clear_errors(db):
    with pytest.raises(ReportError, match="no campaign named 'nope'"):
        await build_cycle_report(db, "nope", D1, D1)
    await seed(db)
    with pytest.raises(ReportError, match="before"):
        await build_cycle_report(db, "spring", D2, D1)
    with pytest.raises(ReportError, match="Mars/Base"):
        await build_cycle_report(db, "spring", D1, D1, tz="Mars/Base")


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.stack: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.external.append(value)
        if tag not in ("meta", "br", "input", "img", "link"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] += 1

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


async def test_html_and_csv_files_are_written_and_parse(db, tmp_path):
    await seed(db)
    files = await write_cycle_report(db, "spring", D1, D2, tmp_path / "out", tz="Asia/Shanghai")
    assert files.total_attempts == 8
    names = {p.name for p in files.csv}
    assert names == {
        "totals.csv", "by_region.csv", "by_dpd_bucket.csv", "by_caller_id.csv", "by_hour.csv",
        "by_attempt_no.csv", "by_day.csv", "robot_vs_human.csv", "agents.csv", "agent_days.csv",
    }  # fmt: skip
    with (tmp_path / "out" / "totals.csv").open(encoding="utf-8-sig", newline="") as f:
        (total,) = list(csv.DictReader(f))
    assert total["attempts"] == "8" and total["promised_minor"] == "12000"
    assert float(total["abandon_rate"]) == pytest.approx(1 / 6, abs=1e-6)
    with (tmp_path / "out" / "by_region.csv").open(encoding="utf-8-sig", newline="") as f:
        regions = {r["region"]: r for r in csv.DictReader(f)}
    assert regions["Fujian"]["contacts"] == "3"
    page = files.html.read_text(encoding="utf-8")
    parser = _Html()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    assert parser.tags["svg"] == 10 and parser.tags["table"] == 10
    assert parser.external == [] and "<script" not in page
    assert "Cycle report: spring" in page and "120.00" in page  # promised 12000 minor units


def test_cli_writes_the_report(db_dsn, tmp_path, monkeypatch, capsys):
    import asyncio

    from dialer_core.store.database import create_pool

    async def prepare():
        pool = await create_pool(db_dsn, min_size=1, max_size=2)
        try:
            await seed(pool)
        finally:
            await pool.close()

    asyncio.run(prepare())
    monkeypatch.setenv("PACEDIAL_DATABASE_URL", db_dsn)
    out = tmp_path / "r"
    code = report_main(
        ["--campaign", "spring", "--date", "2025-03-01", "--to", "2025-03-02",
         "--tz", "Asia/Shanghai", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    assert (out / "report.html").exists() and "(8 attempts)" in capsys.readouterr().out
    assert report_main(["--campaign", "ghost", "--date", "2025-03-01", "--out", str(out)]) == 2
    assert "no campaign named 'ghost'" in capsys.readouterr().err


def test_period_follows_dst_transitions():
    p = local_period(date(2025, 3, 9), date(2025, 3, 9), "America/New_York")
    assert p.end - p.start == timedelta(hours=23)
    assert p.offsets == (-5 * 3600, -4 * 3600)
    assert p.since[1] == datetime(2025, 3, 9, 7, tzinfo=UTC)
    flat = local_period(D1, date(2025, 3, 31), "Asia/Shanghai")
    assert flat.offsets == (8 * 3600,) and flat.start == datetime(2025, 2, 28, 16, tzinfo=UTC)
    with pytest.raises(PeriodError):
        local_period(D2, D1, "UTC")


def test_day_slices_cover_the_period_in_whole_local_days():
    p = local_period(D1, date(2025, 3, 10), "Asia/Shanghai")
    cuts = day_slices(p, 3)
    assert [hi - lo for lo, hi in cuts] == [timedelta(days=4), timedelta(days=3), timedelta(days=3)]
    assert cuts[0][0] == p.start and cuts[-1][1] == p.end
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:], strict=False))
    assert cuts[1][0] == local(date(2025, 3, 5), 0)  # a local midnight
    assert day_slices(p, 50) == day_slices(p, 10) and len(day_slices(p, 0)) == 1
    dst = local_period(date(2025, 3, 8), date(2025, 3, 10), "America/New_York")
    ny = ZoneInfo("America/New_York")
    assert [lo.astimezone(ny).hour for lo, _ in day_slices(dst, 3)] == [0, 0, 0]


def test_bins_never_straddle_a_local_hour():
    assert bin_seconds(local_period(D1, D2, "Asia/Shanghai")) == 3600
    assert bin_seconds(local_period(D1, D2, "Asia/Kolkata")) == 3600  # +05:30 from midnight
    assert bin_seconds(local_period(date(2025, 3, 9), date(2025, 3, 9), "America/New_York")) == 3600
    # Lord Howe Island moves its clocks by 30 minutes.
    assert (
        bin_seconds(local_period(date(2025, 4, 6), date(2025, 4, 6), "Australia/Lord_Howe")) == 1800
    )


async def test_slices_add_up_to_the_single_statement(db):
    """Agents working on several days, split into 1, 2 or 4 slices: the same report."""
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "long")
        cases = [await add_case(conn, cid, f"l{i}", 20 * i, "Hunan") for i in range(4)]
        for day in range(6):
            d = date(2025, 3, 1 + day)
            for i, case in enumerate(cases):
                await add_attempt(conn, cid, case, day + 1, f"+86{i % 2}", local(d, 8 + i), "busy")
                await add_attempt(
                    conn, cid, case, day + 1, "+860", local(d, 12, 5 * i), "agent_talked",
                    answered=True, talk=30 + i, agent=("ann", "bob")[(day + i) % 2],
                    ended=local(d, 12, 5 * i + 2),
                    detail={"agent_outcome": ("promise_to_pay", "refused")[i % 2],
                            "ptp_amount_minor": 100 * (i + 1)},
                )  # fmt: skip
    reports = [
        await build_cycle_report(db, "long", D1, date(2025, 3, 6), tz="Asia/Shanghai", slices=k)
        for k in (1, 2, 4)
    ]
    for r in reports:
        assert r.total.attempts == 48 and r.total.promises == 12
        assert r.agent_days is not None and r.agent_days.days == 12
        assert r.agent_days.metrics.span_seconds == pytest.approx(12 * 12 * 60)  # 12 min each
    one = reports[0]
    for other in reports[1:]:
        for table in one.tables:
            assert other.table(table.name).records() == table.records(), table.name


async def test_hours_follow_a_half_hour_clock_change(db):
    """Lord Howe Island, 6 April 2025: 02:00 (+11:00) becomes 01:30 (+10:30)."""
    zone = ZoneInfo("Australia/Lord_Howe")
    day = date(2025, 4, 6)
    start = datetime(2025, 4, 5, 13, 0, tzinfo=UTC)  # local midnight, +11:00
    instants = [start + timedelta(minutes=m) for m in (10, 85, 100, 115, 130, 160, 200)]
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "lh")
        case = await add_case(conn, cid, "lh1", 5, "NSW")
        for n, at in enumerate(instants, 1):
            await add_attempt(conn, cid, case, n, "x", at, "busy")
    r = await build_cycle_report(db, "lh", day, day, tz="Australia/Lord_Howe")
    expected = Counter(str(at.astimezone(zone).hour) for at in instants)
    assert {k: m.attempts for k, m in rows(r, "by_hour").items()} == dict(expected)
    assert expected["1"] == 4  # 01:25, 01:40, 01:55 (+11:00) and 01:40 again (+10:30)
