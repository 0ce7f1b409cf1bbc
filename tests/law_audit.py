"""An outside auditor's checker, written from the regulations (/work/shared/REFERENCE.md), not
from pacedial's compliance code: plain SQL over ``attempts``, ``cases``, ``amd_decisions`` and
``dnc_entries``, and each rule counted on the key its law names. e2e tests call
``law_findings`` after a run as a second opinion beside ``pacedial audit``.

Readings of the law (each errs toward finding a violation):

* A call is placed at ``created_at`` and rings the callee from ``ringing_at``; both must fall
  inside the legal hours in EVERY candidate zone of the callee (the number's zones from the
  libphonenumber time-zone data, plus the address zones of the case). us: 08:00-21:00 (Reg F
  1006.6(b)(1)(i)); cn: no collection 22:00-08:00 (NIFA). uk has no statutory hours.
* Two calls to one number never overlap (``created_at`` .. ``ended_at``; open = still going).
* A live call: answered, and not a machine (an AMD MACHINE verdict or a ``machine`` disposition,
  unless the truth written back is ``human``; a HUMAN verdict whose truth is ``machine``; a
  callee who hung up while AMD listened). Abandoned: flagged abandoned, or an AMD false positive
  (MACHINE verdict on a human). An effective call / conversation: a live call not abandoned.
* us (Reg F 1006.14(b)(2)): at most 7 calls in 7 consecutive callee-local days per debt and per
  debtor, busy / not in service / network failure excluded (dispositions ``busy``,
  ``invalid_number``, ``congestion``, or Q.850 causes 1, 2, 3, 17, 22, 28, 34, 38, 41, 42, 47);
  no call on the day of a conversation after it, nor in the 6 local days after it, per debtor.
  Abandonment <= 3% of live calls per campaign over the 30 days ending at each local day's end
  (47 CFR 64.1200(a)(7)).
* uk (Ofcom 2016): per number, no call within 72 h after an abandoned call (from its answer),
  none later the same London day after an AMD machine verdict; abandonment <= 3% of live calls
  per campaign per London calendar day, AMD false positives counted.
* us / uk: a message on every abandoned call. An abandoned call flagged by the queue gets the
  drop prompt (the two-second e2e test checks the PBX's record of it); an AMD false positive
  gets a message only when the campaign's action on a MACHINE verdict was ``message``.
  Unanswered calls ring at least 15 s.
* cn (NIFA): at most 3 effective calls per debtor per China calendar day.
* Every preset: no call to a number on a DNC list (global or the campaign's) from the entry's
  ``created_at`` on.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as pn_timezone

HOURS = {"us": (time(8), time(21)), "cn": (time(8), time(22))}
NOT_CONNECTED_DISPOSITIONS = {"busy", "invalid_number", "congestion"}
NOT_CONNECTED_CAUSES = {1, 2, 3, 17, 22, 28, 34, 38, 41, 42, 47}
ABANDON_LIMIT = 0.03
CALENDAR = {"us": "America/New_York", "uk": "Europe/London", "cn": "Asia/Shanghai"}

_ROWS = """
SELECT a.call_id::text AS call_id, cp.name AS campaign, a.case_id, a.e164, a.created_at,
       a.ringing_at, a.answered_at, a.ended_at, a.disposition, a.q850_cause, a.abandoned,
       c.debtor_key, c.address_zones, d.status AS amd, d.truth, d.action AS amd_action
FROM attempts a
JOIN cases c ON c.id = a.case_id
JOIN campaigns cp ON cp.id = a.campaign_id
LEFT JOIN amd_decisions d ON d.call_id = a.call_id
WHERE coalesce(a.disposition, '') <> 'not_dialed'
ORDER BY a.created_at, a.call_id"""


def zones_of(row) -> list[ZoneInfo]:
    """Every zone the callee may be in: the number's (libphonenumber) and the address's."""
    names = set(row["address_zones"] or ())
    number = phonenumbers.parse(row["e164"], None)
    names |= {z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"}
    if not names:
        raise AssertionError(f"law audit: no zone for the number ending {row['e164'][-4:]}")
    return [ZoneInfo(z) for z in sorted(names)]


def is_machine(r) -> bool:
    if r["truth"] is not None:
        return r["truth"] == "machine"
    return r["amd"] in ("MACHINE", "HANGUP") or r["disposition"] == "machine"


def is_false_positive(r) -> bool:
    return r["amd"] == "MACHINE" and r["truth"] == "human"


def is_live(r) -> bool:
    return r["answered_at"] is not None and not is_machine(r) and r["amd"] != "HANGUP"


def is_abandoned(r) -> bool:
    return bool(r["abandoned"]) or r["disposition"] == "abandoned" or is_false_positive(r)


def is_conversation(r) -> bool:
    return is_live(r) and not is_abandoned(r)


def counts_for_reg_f(r) -> bool:
    return (
        r["disposition"] not in NOT_CONNECTED_DISPOSITIONS
        and r["q850_cause"] not in NOT_CONNECTED_CAUSES
    )


def _mask(e164: str) -> str:
    return "*" * (len(e164) - 4) + e164[-4:]


def _at(r) -> str:
    return f"{r['campaign']} call {r['call_id'][:8]} {_mask(r['e164'])} at {r['created_at']:%F %T}"


def _hours(rows, judged, preset: str) -> list[str]:
    if preset not in HOURS:
        return []
    start, end = HOURS[preset]
    out = []
    for r in judged:
        for zone in zones_of(r):
            for when in (r["created_at"], r["ringing_at"]):
                local = when.astimezone(zone) if when else None
                if local and not start <= local.time() < end:
                    out.append(f"hours: {_at(r)}: {local:%H:%M:%S} in {zone.key}")
    return out


def _overlaps(rows) -> list[str]:
    out = []
    by_number = defaultdict(list)
    for r in rows:
        by_number[r["e164"]].append(r)
    for calls in by_number.values():
        open_until, before = None, None
        for r in calls:
            if before is not None and (open_until is None or r["created_at"] < open_until):
                out.append(f"overlap: {_at(r)} while {before['call_id'][:8]} was open")
            end = r["ended_at"]
            if before is None or (open_until is not None and (end is None or end > open_until)):
                open_until, before = end, r
    return out


def _local_day(r, zone: ZoneInfo, field: str = "created_at"):
    return r[field].astimezone(zone).date()


def _per_day_cap(rows, judged, key: str, counted, cap: int, days: int, rule: str) -> list[str]:
    """At most ``cap`` counted calls on one ``key`` in any ``days`` consecutive local days
    (each candidate zone of the judged call)."""
    out = []
    by_key = defaultdict(list)
    for r in rows:
        if counted(r):
            by_key[r[key]].append(r)
    for r in judged:
        if not counted(r):
            continue
        for zone in zones_of(r):
            day = _local_day(r, zone)
            for first in (day - timedelta(days=d) for d in range(days)):
                last = first + timedelta(days=days - 1)
                n = sum(
                    1
                    for o in by_key[r[key]]
                    if first <= _local_day(o, zone) <= last and o["created_at"] <= r["created_at"]
                )
                if n > cap:
                    out.append(f"{rule}: {_at(r)}: call {n} on its {key} in {days} day(s)")
                    break
    return out


def _quiet(rows, judged) -> list[str]:
    out = []
    talks = defaultdict(list)
    for r in rows:
        if is_conversation(r):
            talks[r["debtor_key"]].append(r)
    for r in judged:
        for t in talks[r["debtor_key"]]:
            heard = t["answered_at"]
            if r["created_at"] <= heard:
                continue
            for zone in zones_of(r):
                if (_local_day(r, zone) - _local_day(t, zone, "answered_at")).days < 7:
                    out.append(f"quiet: {_at(r)}: conversation {t['call_id'][:8]} at {heard}")
                    break
    return out


def _uk_lockouts(rows, judged) -> list[str]:
    out = []
    london = ZoneInfo("Europe/London")
    by_number = defaultdict(list)
    for r in rows:
        by_number[r["e164"]].append(r)
    for r in judged:
        for o in by_number[r["e164"]]:
            if o["created_at"] >= r["created_at"]:
                continue
            moment = o["answered_at"] or o["created_at"]
            if is_abandoned(o) and r["created_at"] < moment + timedelta(hours=72):
                out.append(f"lockout 72h: {_at(r)}: abandoned call {o['call_id'][:8]}")
            machine_verdict = o["amd"] == "MACHINE" or o["disposition"] == "machine"
            if machine_verdict and _local_day(o, london) == _local_day(r, london):
                out.append(f"lockout machine: {_at(r)}: machine verdict {o['call_id'][:8]}")
    return out


def _abandon_rates(judged, preset: str) -> list[str]:
    if preset not in ("us", "uk"):
        return []
    zone = ZoneInfo(CALENDAR[preset])
    span = 1 if preset == "uk" else 30
    out = []
    by_campaign = defaultdict(list)
    for r in judged:
        if is_live(r) or is_false_positive(r):
            by_campaign[r["campaign"]].append(r)
    for campaign, live in by_campaign.items():
        days = sorted({_local_day(r, zone, "answered_at") for r in live})
        for last in days:
            first = last - timedelta(days=span - 1)
            window = [r for r in live if first <= _local_day(r, zone, "answered_at") <= last]
            dropped = sum(is_abandoned(r) for r in window)
            if dropped > ABANDON_LIMIT * len(window):
                out.append(
                    f"abandon rate: {campaign} {first}..{last}: {dropped} of {len(window)} live"
                )
    return out


def _messages_and_ring(judged, preset: str) -> list[str]:
    if preset not in ("us", "uk"):
        return []
    out = []
    for r in judged:
        if is_false_positive(r) and r["amd_action"] != "message":
            out.append(f"no message: {_at(r)}: a person taken for a machine, {r['amd_action']}")
        if r["disposition"] == "no_answer" and r["ended_at"] is not None:
            rang = (r["ended_at"] - (r["ringing_at"] or r["created_at"])).total_seconds()
            if rang < 15.0:
                out.append(f"ring: {_at(r)}: given up after {rang:.1f} s")
    return out


def _dnc(judged, entries) -> list[str]:
    out = []
    for r in judged:
        for e in entries:
            if e["source"] not in ("global", r["campaign"]) or e["created_at"] > r["created_at"]:
                continue
            p = e["pattern"]
            if (p.endswith("*") and r["e164"].startswith(p[:-1])) or r["e164"] == p:
                out.append(f"dnc: {_at(r)}: listed since {e['created_at']}")
    return out


async def law_findings(db, campaigns: list[str], preset: str) -> list[str]:
    """Every violation of ``preset``'s law by the calls of ``campaigns`` (calls of any other
    campaign are history on the law's keys, not judged)."""
    async with db.acquire() as conn:
        rows = await conn.fetch(_ROWS)
        entries = await conn.fetch("SELECT pattern, source, created_at FROM dnc_entries")
    judged = [r for r in rows if r["campaign"] in campaigns]
    out = _hours(rows, judged, preset) + _overlaps(rows) + _dnc(judged, entries)
    if preset == "us":
        out += _per_day_cap(rows, judged, "case_id", counts_for_reg_f, 7, 7, "7-in-7 debt")
        out += _per_day_cap(rows, judged, "debtor_key", counts_for_reg_f, 7, 7, "7-in-7 debtor")
        out += _quiet(rows, judged)
    if preset == "uk":
        out += _uk_lockouts(rows, judged)
    if preset == "cn":
        out += _per_day_cap(rows, judged, "debtor_key", is_conversation, 3, 1, "3 a day debtor")
    return out + _abandon_rates(judged, preset) + _messages_and_ring(judged, preset)
