"""One call's lifecycle as a pure state machine: events in (with their time), effects out.

A call exists here from the moment its attempt row is written until that attempt is closed::

    written ─launch→ originated ─ringing→ ringing ─answer→ answered ─handler→ in handler
       │                                                      └─queue wait→ in queue
       └─hold→ closed (not dialed)                     in queue ─agent→ connected
                                                       in queue ─abandon→ abandoned
    (handler states) ─handler finished→ handled
    (live states) ─hangup→ ended (the handler still runs) ─finished / grace over→ closed
                          └──────────────── closed (no handler running)

Two streams report on one call: the PBX (ringing, answer, agent, hangup) and the answered-call
handler (started, queue wait, AMD, recording, abandon, finished); their reports may cross, so a
few events are legal in several states. Every event a state does not accept is refused with
``IllegalTransition``. ``Call.handle`` never does I/O: it returns effects (write this, tell the
policy that, hang up) that the runner performs in order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from agi_scripts.handling import AMD_VARIABLE
from dialer_core.campaign.config import CampaignConfig
from dialer_core.campaign.dispositions import disposition_for
from dialer_core.compliance.decision import next_attempt
from dialer_core.compliance.model import PastAttempt
from dialer_core.pacing.interface import (
    AgentStatus,
    AgentView,
    CallObservation,
    Observation,
    Outcome,
    PacingView,
)
from dialer_core.store.attempts import NOT_DIALED, AttemptResult, Contact
from pbx import model as pbx
from pbx.model import CallRequest, Hangup, Result

HANDLER_GRACE = 15.0  # seconds to let an answered-call handler finish after the hangup
# The PBX's own give-up time is the ring time plus this: the post-dial delay before the first
# ring (2-5 s on real lines) never eats into the ring time the law counts; the runner hangs up
# a call still unanswered ``ring_timeout`` after its first ring.
RING_START_ALLOWANCE = 10.0


class State(enum.Enum):
    WRITTEN = "written"  # the attempt row exists; nothing sent to the PBX yet
    ORIGINATED = "originated"
    RINGING = "ringing"
    ANSWERED = "answered"
    IN_HANDLER = "in_handler"  # the answered-call handler runs (AMD, robot dialog)
    IN_QUEUE = "in_queue"  # waiting for an agent
    CONNECTED = "connected"
    ABANDONED = "abandoned"  # no agent within the limit; the handler plays the message
    HANDLED = "handled"  # the handler is done, the channel is still up
    ENDED = "ended"  # the PBX reported the end; waiting for the handler's last report
    CLOSED = "closed"  # the attempt's result is out; the call is forgotten


PRE_HANDLER = frozenset({State.ORIGINATED, State.RINGING, State.ANSWERED})
HANDLER_RUNNING = frozenset({State.IN_HANDLER, State.IN_QUEUE, State.CONNECTED, State.ABANDONED})
LIVE = PRE_HANDLER | HANDLER_RUNNING | {State.HANDLED}
REPORTING = LIVE | {State.ENDED}  # states in which late reports are still taken


class IllegalTransition(ValueError):
    """An event the call's current state does not accept."""


# -- events: what happened, and when (clock seconds) -----------------------------------------


@dataclass(frozen=True)
class Event:
    at: float


@dataclass(frozen=True)
class Launch(Event):
    """The last rules check passed: originate now."""


@dataclass(frozen=True)
class Hold(Event):
    """The last rules check (DNC, window) stopped the call before the Originate."""

    code: str


@dataclass(frozen=True)
class Rang(Event):
    """The callee's phone rings (the PBX's Ringing / early media)."""


@dataclass(frozen=True)
class Answer(Event):
    """The callee answered (the PBX's answer of the outbound leg)."""


@dataclass(frozen=True)
class AgentJoined(Event):
    agent: str
    wait: float


@dataclass(frozen=True)
class Ended(Event):
    """The PBX's end of the call (an OriginateFailed is an unanswered FAILED end)."""

    hangup: Hangup


@dataclass(frozen=True)
class Refused(Event):
    """The PBX refused the Originate: no channel existed, so the number was never dialed
    (shutting down, not booted yet); the contact goes back without consuming an attempt."""

    reason: str


@dataclass(frozen=True)
class Lost(Event):
    """The runner gave up waiting for the PBX's end (shutdown)."""

    why: str


@dataclass(frozen=True)
class StopRequested(Event):
    """The campaign stops and the call is still up."""


@dataclass(frozen=True)
class HandlerStarted(Event):
    """The answered-call handler (FastAGI / outbound socket) took the call."""


@dataclass(frozen=True)
class QueueWaitStarted(Event):
    """The handler put the caller in the agent queue: the 2-second wait runs."""


@dataclass(frozen=True)
class RobotStarted(Event):
    """The handler routed the answered call to a robot dialog: it needs no agent (for now)."""


@dataclass(frozen=True)
class AmdDecided(Event):
    status: str
    cause: str
    action: str


@dataclass(frozen=True)
class RecordingStarted(Event):
    path: str


@dataclass(frozen=True)
class Abandoned(Event):
    """No agent took the caller within the wait: the drop message plays."""


@dataclass(frozen=True)
class HandlerFinished(Event):
    disposition: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class GraceOver(Event):
    """The handler did not report within HANDLER_GRACE after the hangup."""


@dataclass(frozen=True)
class RingOver(Event):
    """The callee's phone has rung ``ring_timeout`` seconds since its first ring."""


# -- effects: what the runner must do -----------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """Make the call known to the answered-call handlers."""


@dataclass(frozen=True)
class Originate:
    request: CallRequest


@dataclass(frozen=True)
class Observe:
    observation: Observation


@dataclass(frozen=True)
class Progress:
    state: str
    at: float


@dataclass(frozen=True)
class RecordAmd:
    status: str
    cause: str
    action: str
    at: float


@dataclass(frozen=True)
class RecordRecording:
    path: str
    at: float


@dataclass(frozen=True)
class RecordAbandon:
    """Mark the attempt abandoned in the store (the ledger and the 72 h lock-out)."""


@dataclass(frozen=True)
class WaitForHandler:
    seconds: float


@dataclass(frozen=True)
class WaitForRing:
    """Report RingOver after ``seconds`` if the call is still unanswered."""

    seconds: float


@dataclass(frozen=True)
class HangUp:
    """Ask the PBX to hang the call up."""


@dataclass(frozen=True)
class WriteResult:
    result: AttemptResult


@dataclass(frozen=True)
class Count:
    """One more of ``what`` in the runner's statistics (``key``: a code or disposition)."""

    what: str
    key: str = ""


@dataclass(frozen=True)
class Forget:
    """The call is closed: drop it from the runner and the answered-call registry."""


Effect = (
    Register
    | Originate
    | Observe
    | Progress
    | RecordAmd
    | RecordRecording
    | RecordAbandon
    | WaitForHandler
    | WaitForRing
    | HangUp
    | WriteResult
    | Count
    | Forget
)

# Which states accept which event; anything else is an IllegalTransition.
ACCEPTS: dict[type[Event], frozenset[State]] = {
    Launch: frozenset({State.WRITTEN}),
    Hold: frozenset({State.WRITTEN}),
    Rang: LIVE,
    Answer: LIVE,
    AgentJoined: REPORTING,
    Ended: REPORTING,
    Lost: REPORTING,
    Refused: frozenset({State.ORIGINATED}),
    StopRequested: REPORTING,
    HandlerStarted: PRE_HANDLER,
    QueueWaitStarted: PRE_HANDLER | {State.IN_HANDLER},
    RobotStarted: PRE_HANDLER | {State.IN_HANDLER},
    AmdDecided: REPORTING,
    RecordingStarted: REPORTING,
    Abandoned: HANDLER_RUNNING | {State.ENDED},
    HandlerFinished: HANDLER_RUNNING | {State.ENDED},
    GraceOver: frozenset({State.ENDED}),
    RingOver: frozenset({State.ORIGINATED, State.RINGING}),
}


def amd_effects(call_id: str, at: float, status: str, cause: str, action: str) -> list[Effect]:
    """An AMD verdict: a machine (not treated as a human) is news for the policy; always stored."""
    out: list[Effect] = []
    if status == "MACHINE" and action != "human":
        out.append(Observe(CallObservation(at, call_id, Outcome.MACHINE_ANSWERED)))
    out.append(RecordAmd(status, cause, action, at))
    return out


def from_pbx(event: object, at: float) -> Event | None:
    """The call event for a PBX event (None: nothing in a call's lifecycle)."""
    if isinstance(event, pbx.Ringing):
        return Rang(at)
    if isinstance(event, pbx.Answered):
        return Answer(at)
    if isinstance(event, pbx.AgentConnected):
        return AgentJoined(at, event.agent, event.wait)
    if isinstance(event, pbx.Hangup):
        return Ended(at, event)
    if isinstance(event, pbx.OriginateFailed):  # refused, no channel: the number was not dialed
        return Refused(at, event.reason)
    return None


def late_report_effects(call_id: str, event: Event) -> list[Effect]:
    """A handler's report on a call already closed: the facts it carries are still stored."""
    if isinstance(event, AmdDecided):
        return amd_effects(call_id, event.at, event.status, event.cause, event.action)
    if isinstance(event, RecordingStarted):
        return [RecordRecording(event.path, event.at)]
    if isinstance(event, Abandoned):
        return [RecordAbandon()]
    return []


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass
class Call:
    """One call of a campaign, from its written attempt to its closed one."""

    call_id: str
    contact: Contact
    campaign: CampaignConfig
    caller_id: str
    history: list[PastAttempt] = field(default_factory=list)  # earlier attempts on its keys
    state: State = State.WRITTEN
    launched_at: float = 0.0
    answered_at: float | None = None
    waiting_since: float | None = None
    agent: str | None = None  # set once an agent is connected
    needs_agent: bool = True  # False once routed to a robot or found to be a machine
    amd: bool = True  # the handler runs AMD (when the campaign has it); the policy may turn it off
    abandoned: bool = False
    ring_over: bool = False  # the runner hung it up after the full ring time
    handler_disposition: str = ""
    handler_detail: dict[str, Any] = field(default_factory=dict)
    end: Hangup | None = None
    ended_at: float = 0.0

    def __post_init__(self) -> None:
        if self.campaign.mode == "robot":  # a robot campaign's calls never take an agent
            self.needs_agent = False

    @property
    def connected(self) -> bool:
        return self.agent is not None

    @property
    def ringing(self) -> bool:
        return self.state in (State.ORIGINATED, State.RINGING)

    @property
    def waiting(self) -> bool:
        """In the queue, waiting for an agent."""
        return self.state is State.IN_QUEUE

    @property
    def robot(self) -> bool:
        """Answered and bound for no agent: a robot dialog (from the answer in a robot
        campaign, from the handler's report in a mixed one) or a machine."""
        return self.state in (State.ANSWERED, State.IN_HANDLER) and not self.needs_agent

    @property
    def bound_for_agent(self) -> bool:
        """Answered and on its way to the queue (before the handler, recording, AMD): it
        will take an idle agent as surely as a caller already waiting."""
        return self.state in (State.ANSWERED, State.IN_HANDLER) and self.needs_agent

    def handle(self, event: Event) -> list[Effect]:
        """Apply ``event``; the effects to perform, in order. Raises IllegalTransition."""
        if self.state not in ACCEPTS[type(event)]:
            raise IllegalTransition(
                f"call {self.call_id}: {type(event).__name__} in state {self.state.value}"
            )
        return getattr(self, f"_on_{type(event).__name__}")(event)

    # -- launch --------------------------------------------------------------------------------

    def _on_Launch(self, e: Launch) -> list[Effect]:
        self.state, self.launched_at = State.ORIGINATED, e.at
        campaign = self.campaign
        request = CallRequest(
            call_id=self.call_id,
            destination=self.contact.e164,
            caller_id=self.caller_id,
            ring_timeout=campaign.ring_timeout + RING_START_ALLOWANCE,
            campaign=campaign.name,
            variables={
                "PACEDIAL_CAMPAIGN": campaign.name,
                "PACEDIAL_CASE_ID": str(self.contact.case_id),
                AMD_VARIABLE: "on" if self.amd else "off",
            },
        )
        return [
            Register(),
            Observe(CallObservation(e.at, self.call_id, Outcome.LAUNCHED, amd=self.amd)),
            Count("launched"),
            Originate(request),
        ]

    def _on_Hold(self, e: Hold) -> list[Effect]:
        self.launched_at = e.at
        end = Hangup(self.call_id, 0, f"held by the rules: {e.code}", False, Result.FAILED)
        return [Count("held", e.code), *self._close(end, e.at, NOT_DIALED)]

    # -- the PBX's reports ---------------------------------------------------------------------

    def _on_Rang(self, e: Rang) -> list[Effect]:
        if self.state is not State.ORIGINATED:
            return []  # a repeated or late ringing report changes nothing
        self.state = State.RINGING
        return [Progress("ringing", e.at), WaitForRing(self.campaign.ring_timeout)]

    def _on_Answer(self, e: Answer) -> list[Effect]:
        if self.answered_at is not None:
            return []
        self.answered_at = e.at
        if self.state in (State.ORIGINATED, State.RINGING):
            self.state = State.ANSWERED
        duration = e.at - self.launched_at
        return [
            Count("answered"),
            Observe(CallObservation(e.at, self.call_id, Outcome.HUMAN_ANSWERED, duration=duration)),
            Progress("answered", e.at),
        ]

    def _on_AgentJoined(self, e: AgentJoined) -> list[Effect]:
        if self.agent is not None:
            return []
        self.agent = e.agent
        if self.state in PRE_HANDLER or self.state in (State.IN_HANDLER, State.IN_QUEUE):
            self.state = State.CONNECTED
        return [
            Count("connected"),
            Observe(CallObservation(e.at, self.call_id, Outcome.CONNECTED, wait=e.wait)),
        ]

    def _on_Ended(self, e: Ended) -> list[Effect]:
        if self.state is State.ENDED:
            return []  # the end was already reported
        self.end, self.ended_at = e.hangup, e.at
        if e.hangup.answered and self.answered_at is None:
            self.answered_at = e.at
        if self.state in HANDLER_RUNNING:
            self.state = State.ENDED
            return [WaitForHandler(HANDLER_GRACE)]
        return self._close(e.hangup, e.at)

    def _on_Refused(self, e: Refused) -> list[Effect]:
        end = Hangup(self.call_id, 0, f"refused by the PBX: {e.reason}", False, Result.FAILED)
        return [Count("held", "pbx_refused"), *self._close(end, e.at, NOT_DIALED)]

    def _on_Lost(self, e: Lost) -> list[Effect]:
        answered = self.answered_at is not None
        return self._on_Ended(Ended(e.at, Hangup(self.call_id, 0, e.why, answered, Result.FAILED)))

    def _on_StopRequested(self, e: StopRequested) -> list[Effect]:
        return [] if self.state is State.ENDED else [HangUp()]

    # -- the answered-call handler's reports ---------------------------------------------------

    def _on_HandlerStarted(self, e: HandlerStarted) -> list[Effect]:
        self.state = State.IN_HANDLER
        return []

    def _on_QueueWaitStarted(self, e: QueueWaitStarted) -> list[Effect]:
        self.state, self.waiting_since = State.IN_QUEUE, e.at
        return []

    def _on_RobotStarted(self, e: RobotStarted) -> list[Effect]:
        self.needs_agent = False
        return []

    def _on_AmdDecided(self, e: AmdDecided) -> list[Effect]:
        if e.status == "MACHINE" and e.action != "human":
            self.needs_agent = False
        return amd_effects(self.call_id, e.at, e.status, e.cause, e.action)

    def _on_RecordingStarted(self, e: RecordingStarted) -> list[Effect]:
        return [RecordRecording(e.path, e.at)]

    def _on_Abandoned(self, e: Abandoned) -> list[Effect]:
        wait = e.at - (self.waiting_since if self.waiting_since is not None else e.at)
        self.waiting_since, self.abandoned = None, True
        if self.state in HANDLER_RUNNING:
            self.state = State.ABANDONED
        return [
            Count("abandoned"),
            Observe(CallObservation(e.at, self.call_id, Outcome.ABANDONED, wait=wait)),
            RecordAbandon(),  # also written with the final result, should this write fail
        ]

    def _on_HandlerFinished(self, e: HandlerFinished) -> list[Effect]:
        self.handler_disposition, self.handler_detail = e.disposition, e.detail
        if self.state is State.ENDED:
            assert self.end is not None
            return self._close(self.end, self.ended_at)
        self.state = State.HANDLED
        return []

    def _on_RingOver(self, e: RingOver) -> list[Effect]:
        self.ring_over = True
        return [Count("rang_out"), HangUp()]

    def _on_GraceOver(self, e: GraceOver) -> list[Effect]:
        assert self.end is not None
        return self._close(self.end, self.ended_at)

    # -- closing -------------------------------------------------------------------------------

    def _close(self, end: Hangup, at: float, disposition: str = "") -> list[Effect]:
        """The attempt's one result: disposition and redial time, by the compliance rules."""
        self.state = State.CLOSED
        out: list[Effect] = []
        if self.ring_over and not end.answered and not disposition:  # we hung up: unanswered
            end = replace(end, result=Result.NO_ANSWER, cause_text="rang the full ring time")
        if not end.answered and not disposition:
            out.append(
                Observe(
                    CallObservation(
                        at,
                        self.call_id,
                        Outcome.FAILED,
                        cause=end.cause,
                        duration=at - self.launched_at,
                    )
                )
            )
        disposition = disposition or disposition_for(
            end.result, end.answered, self.handler_disposition, self.connected
        )
        abandoned = disposition == "abandoned"
        rules = self.campaign.compliance
        if disposition == NOT_DIALED:
            redial_at, stop, advance, close, reason = _dt(at), False, False, False, ""
        else:
            finished = PastAttempt(
                at=_dt(self.launched_at),
                phone=self.contact.e164,
                case_id=str(self.contact.case_id),
                disposition=disposition,
                connected=end.answered and not abandoned and disposition != "machine",
                abandoned=abandoned,
                machine=disposition == "machine",
                debtor=self.contact.debtor_key,
                ended=_dt(at),
            )
            redial = next_attempt(
                finished, self.history, _dt(at), rules, self.contact.address_zones
            )
            redial_at, stop, advance = redial.next_at, redial.stop_phone, redial.next_phone
            close, reason = redial.close_case, redial.reason
        agent = self.agent or ""
        result = AttemptResult(
            call_id=self.call_id,
            ended_at=_dt(at),
            disposition=disposition,
            pbx_result=end.result.value,
            q850_cause=end.cause,
            cause_text=end.cause_text,
            talk_seconds=end.talk_seconds,
            next_attempt_at=redial_at,
            stop_phone=stop,
            advance_phone=advance,
            close_case=close,
            reason=reason,
            agent=agent,
            abandoned=self.abandoned or abandoned,
            detail={**self.handler_detail, **({"agent": agent} if agent else {})},
        )
        return [*out, WriteResult(result), Count("finished", disposition), Forget()]


def pacing_view(
    calls: Iterable[Call],
    agents: Mapping[str, tuple[AgentStatus, float]],
    now: float,
    agent_wait: float,
) -> PacingView:
    """What a pacing policy may know at ``now``: agents, ringing lines, callers waiting for an
    agent (in the queue within the agent wait, or answered and on their way to it) and robot
    sessions (answered calls the handler holds for no agent).

    An answered call counts as waiting from its answer on, not from the handler's queue report:
    between the two (the handler connecting, the recording starting, AMD) it is invisible
    otherwise, and a policy would launch a second call for the agent it is about to take."""
    live = list(calls)
    return PacingView(
        agents=tuple(AgentView(a, s, since) for a, (s, since) in agents.items()),
        ringing=tuple(x.launched_at for x in live if x.ringing),
        waiting=tuple(
            [
                x.waiting_since
                for x in live
                if x.state is State.IN_QUEUE
                and x.waiting_since is not None
                and now - x.waiting_since <= agent_wait
            ]
            + [x.answered_at or now for x in live if x.bound_for_agent]
        ),
        extra={"robot_sessions": float(sum(1 for x in live if x.robot))},
    )
