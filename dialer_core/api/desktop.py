"""The agent desktop's routes: the agent's state, the screen pop, and saving what was agreed.

An agent user is bound to one PBX seat (queue member interface / callcenter agent). Ready and
pause go to the PBX as a queue pause, so the PBX and the pacer see the same thing. When a call
connects, the desktop puts the seat in wrap-up (a pause with reason ``wrapup``, which the
trackers map to the wrap-up state); saving the disposition ends it. Everything saved goes
through the same store functions the account managers' tools use, so reports count it.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from dialer_core.api.context import ctx_of, phone_out
from dialer_core.api.errors import ApiError, field, read_json_object
from dialer_core.api.sessions import current_user
from dialer_core.api.table import AGENT, Route
from dialer_core.store import floor as floor_store
from dialer_core.store import followup as followup_store
from dialer_core.store.allocation import AllocationError
from pbx.model import PbxActionRefused

TAG = "agent desktop"
PAUSE_CODES = ("break", "lunch", "training", "meeting", "coaching", "technical")
WRAPUP = "wrapup"
OUTCOMES = (
    "promise_to_pay",
    "callback",
    "refused_to_pay",
    "dispute",
    "already_paid",
    "hardship",
    "wrong_party",
    "third_party",
    "hung_up",
    "answering_machine",  # a call placed with AMD off: not a live answer (store.ledger)
)
PENDING_FOR = dt.timedelta(hours=12)  # how far back an unsaved call still asks for a disposition
DEFAULT_SCRIPT = (
    "1. Greet; give your name and the company's name.\n"
    "2. Verify you speak to {debtor_name} before saying anything about the debt.\n"
    "3. State the overdue amount, {amount}, {days_past_due} days past due ({product}).\n"
    "4. Ask when it can be paid; offer installments if needed.\n"
    "5. Read back the date and amount agreed; thank them."
)


def seat_of(request: web.Request) -> str:
    """The PBX seat of the agent making the request (409 when the user has none)."""
    user = current_user(request)
    if not user.pbx_agent:
        raise ApiError(409, "no_seat", f"user {user.username!r} has no PBX seat")
    return user.pbx_agent


def money(amount_minor: int, currency: str) -> str:
    """Minor units in major units with the currency code: 123456, CNY → '1,234.56 CNY'."""
    return f"{Decimal(amount_minor) / 100:,.2f} {currency}".strip()


def _minor(value: Any, key: str) -> int:
    """A positive amount in major units (JSON number or string) as minor units."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(
            400, "invalid_field", f"body.{key}: expected an amount, got {value!r}"
        ) from None
    if not amount.is_finite() or amount <= 0 or amount > Decimal(10) ** 12:
        raise ApiError(400, "invalid_field", f"body.{key}: expected an amount > 0, got {value!r}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ApiError(400, "invalid_field", f"body.{key}: at most 2 decimals, got {value!r}")
    return int(amount * 100)


def _date(value: Any, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ApiError(
            400, "invalid_field", f"body.{key}: expected YYYY-MM-DD, got {value!r}"
        ) from None


def _when(value: Any, key: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError(
            400, "invalid_field", f"body.{key}: expected an ISO time, got {value!r}"
        ) from None
    if at.tzinfo is None:
        raise ApiError(400, "invalid_field", f"body.{key}: the time needs a UTC offset")
    return at


def _script(template: str, case: dict[str, Any], debtor_name: str) -> str:
    values = {
        "debtor_name": debtor_name,
        "amount": money(case["amount_minor"], case["currency"]),
        "days_past_due": case["days_past_due"],
        "product": case["product"] or "loan",
        "external_id": case["external_id"],
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


async def _card(request: web.Request, ref: floor_store.CallRef, live: bool) -> dict[str, Any]:
    ctx = ctx_of(request)
    async with ctx.pool.acquire() as conn:
        card = await floor_store.case_card(conn, ref.case_id)
    if card is None:
        raise ApiError(404, "case_not_found", f"case {ref.case_id} no longer exists")
    case = card["case"]
    # The agent speaks to the debtor: the name is shown; numbers stay masked without pii.
    phones = [{**p, "e164": phone_out(request, p["e164"])} for p in card["phones"]]
    try:
        _, config = await ctx.manager.load(ref.campaign)
        template = str(config.raw.get("agent", {}).get("script") or DEFAULT_SCRIPT)
    except KeyError:
        template = DEFAULT_SCRIPT
    return {
        "call_id": ref.call_id,
        "campaign": ref.campaign,
        "live": live,
        "saved": ref.outcome_saved,
        "case": {
            **{k: case[k] for k in ("id", "external_id", "debtor_name", "days_past_due")},
            "amount": money(case["amount_minor"], case["currency"]),
            "amount_minor": case["amount_minor"],
            "currency": case["currency"],
            "product": case["product"],
            "due_date": case["due_date"].isoformat() if case["due_date"] else None,
        },
        "phones": phones,
        "attempts": card["attempts"],
        "promises": [
            {**p, "amount": money(p["amount_minor"], case["currency"])} for p in card["promises"]
        ],
        "notes": card["notes"],
        "tasks": card["tasks"],
        "script": _script(template, case, case["debtor_name"]),
    }


async def desk(request: web.Request) -> web.Response:
    """The agent's state and the call to show: the live one, else one awaiting a disposition."""
    ctx = ctx_of(request)
    user = current_user(request)
    seat = seat_of(request)
    state = ctx.manager.agent_state(seat)
    call = None
    live_id = ctx.manager.agent_call(seat)
    async with ctx.pool.acquire() as conn:
        if live_id is not None:
            ref = await floor_store.call_ref(conn, live_id)
            live = True
        else:
            since = dt.datetime.fromtimestamp(ctx.clock(), dt.UTC) - PENDING_FOR
            ref = await floor_store.pending_disposition(conn, seat, since)
            live = False
    if ref is not None:
        call = await _card(request, ref, live)
    return json_out(
        {
            "agent": {"username": user.username, "name": user.name, "seat": seat},
            "state": state[0] if state else "unknown",
            "seconds_in_state": round(max(0.0, ctx.clock() - state[1]), 1) if state else None,
            "call": call,
            "pause_codes": list(PAUSE_CODES),
            "outcomes": list(OUTCOMES),
        },
    )


def json_out(doc: Any, status: int = 200) -> web.Response:
    """A JSON response whose dates and times are ISO strings."""
    return web.json_response(
        doc, status=status, dumps=lambda d: json.dumps(d, default=lambda v: v.isoformat())
    )


async def set_state(request: web.Request) -> web.Response:
    """Ready, pause with a code, or wrap-up (when a call connects)."""
    ctx = ctx_of(request)
    seat = seat_of(request)
    doc = await read_json_object(request)
    state = field(doc, "state", str)
    if state == "ready":
        paused, reason = False, ""
    elif state == "paused":
        reason = field(doc, "code", str)
        if reason not in PAUSE_CODES:
            raise ApiError(
                400, "invalid_field", f"body.code: expected one of {', '.join(PAUSE_CODES)}"
            )
        paused = True
    elif state == WRAPUP:
        paused, reason = True, WRAPUP
    else:
        raise ApiError(400, "invalid_field", "body.state: expected ready, paused or wrapup")
    try:
        await ctx.manager.set_agent_paused(seat, paused, reason)
    except (PbxActionRefused, OSError, TimeoutError) as exc:
        raise ApiError(503, "pbx_unavailable", f"the PBX did not take the change: {exc}") from None
    return web.json_response({"seat": seat, "state": state, "code": reason or None})


async def save_disposition(request: web.Request) -> web.Response:
    """The outcome of a call the agent handled: note, promise, callback; ends the wrap-up."""
    ctx = ctx_of(request)
    user = current_user(request)
    seat = seat_of(request)
    doc = await read_json_object(request)
    call_id = field(doc, "call_id", str)
    outcome = field(doc, "outcome", str)
    if outcome not in OUTCOMES:
        raise ApiError(400, "invalid_field", f"body.outcome: expected one of {', '.join(OUTCOMES)}")
    note = field(doc, "note", str, required=False, default="")
    if len(note) > 4000:
        raise ApiError(400, "invalid_field", "body.note: at most 4000 characters")
    ptp_minor = ptp_date = None
    installments = 1
    if outcome == "promise_to_pay":
        if doc.get("ptp_amount") is None:
            raise ApiError(400, "missing_field", "body.ptp_amount: required for a promise")
        ptp_minor = _minor(doc["ptp_amount"], "ptp_amount")
        ptp_date = _date(field(doc, "ptp_date", str), "ptp_date")
        installments = field(doc, "installments", int, required=False, default=1)
        if not 1 <= installments <= 36:
            raise ApiError(400, "invalid_field", "body.installments: expected 1..36")
    callback_at = None
    if outcome == "callback" or doc.get("callback_at"):
        callback_at = _when(field(doc, "callback_at", str), "callback_at")
    now = dt.datetime.fromtimestamp(ctx.clock(), dt.UTC)
    if ptp_date is not None and not now.date() <= ptp_date <= now.date() + dt.timedelta(days=90):
        raise ApiError(400, "invalid_field", "body.ptp_date: expected today to 90 days ahead")
    if callback_at is not None and not now < callback_at <= now + dt.timedelta(days=30):
        raise ApiError(400, "invalid_field", "body.callback_at: expected within the next 30 days")
    async with ctx.pool.acquire() as conn:
        ref = await floor_store.call_ref(conn, call_id)
        mine = ref is not None and (ref.agent == seat or ctx.manager.agent_call(seat) == call_id)
        if not mine:
            raise ApiError(404, "call_not_found", f"call {call_id} is not one of yours")
        if ref.outcome_saved:
            raise ApiError(409, "already_saved", f"call {call_id} already has a disposition")
        text = note if installments == 1 else f"{note}\n[{installments} installments]".strip()
        try:
            async with conn.transaction():
                await followup_store.record_outcome(
                    conn,
                    ref.case_id,
                    user.username,
                    outcome,
                    now=now,
                    note=text,
                    call_id=call_id,
                    ptp_amount_minor=ptp_minor,
                    ptp_date=ptp_date,
                    extra={"ptp_installments": installments} if ptp_minor else None,
                )
                if callback_at is not None:
                    await followup_store.schedule_callback(
                        conn, ref.case_id, callback_at, now=now, manager=user.username, note=note
                    )
        except AllocationError as exc:
            raise ApiError(409, "not_saved", str(exc)) from None
    stay_paused = bool(doc.get("stay_paused"))
    state = ctx.manager.agent_state(seat)
    # Wrap-up ends with the save (saved during the call: the PBX keeps the call up).
    if not stay_paused and state is not None and state[0] in (WRAPUP, "talking"):
        try:
            await ctx.manager.set_agent_paused(seat, False, "")
        except (PbxActionRefused, OSError, TimeoutError):
            pass  # saved; the agent can press Ready once the PBX is back
    return web.json_response({"call_id": call_id, "outcome": outcome, "saved": True}, status=201)


def routes() -> list[Route]:
    return [
        Route("GET", "/api/agent/desk", desk, AGENT, "The agent's state and screen pop", TAG),
        Route(
            "POST",
            "/api/agent/state",
            set_state,
            AGENT,
            "Ready, pause (with a code) or wrap-up",
            TAG,
            body=("application/json",),
        ),
        Route(
            "POST",
            "/api/agent/disposition",
            save_disposition,
            AGENT,
            "Save a call's outcome: note, promise to pay, callback",
            TAG,
            body=("application/json",),
            status=201,
        ),
    ]
