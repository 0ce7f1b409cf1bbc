"""Live-answer classification: what a PBX event means to the pacing policy.

A call counts as a live answer only once it is known to be a person: at the answering-machine
detection (AMD) verdict when AMD is on, at the answer when the campaign has no AMD. A call the
policy placed with AMD off (pacing.amd_plan) is ``UNSCREENED`` at its answer (it needs an agent,
person or machine) and ``LIVE`` once an agent heard a person, or when it found no agent in time
(then nobody can tell it was a machine: a live answer and an abandon, as the audit counts it).
Machines never enter the live-answer count, so the abandonment ledger's denominator holds
people only. The live campaign
runner and the simulator both turn their call events into policy observations through one
:class:`AnswerClassifier`, so both feed the policy the same ledger for the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dialer_core.pacing.interface import CallObservation, Outcome

# AMD verdicts that mean "no person is there to talk to" (the call does not go to an agent)
_NOT_LIVE = frozenset(("MACHINE", "HANGUP"))


def is_live_verdict(status: str, action: str) -> bool:
    """True when an AMD verdict sends the call to a person's queue (a live answer).

    ``MACHINE`` with the campaign's ``action = "human"`` still goes to an agent and counts live;
    ``HANGUP`` (the callee left during detection) is no live answer.
    """
    status = status.upper()
    if status == "MACHINE":
        return action == "human"
    return status not in _NOT_LIVE


@dataclass
class AnswerClassifier:
    """Per-campaign classifier of answered calls (pure: times are passed in).

    Each method takes one PBX-side event and returns the observations the policy must hear, in
    order (often none). The classifier remembers which calls it reported live, so an abandon is
    always preceded by that call's live answer and no call is counted twice.
    """

    amd_enabled: bool
    _launched: dict[str, float] = field(default_factory=dict)
    _answered: set[str] = field(default_factory=set)  # answered, verdict pending
    _live: set[str] = field(default_factory=set)  # reported HUMAN_ANSWERED
    _done: set[str] = field(default_factory=set)  # classified (live or not)
    _unscreened: set[str] = field(default_factory=set)  # launched with AMD off (campaign has it)

    @classmethod
    def for_handling(cls, handling: object) -> AnswerClassifier:
        """The classifier of a campaign's answered-call settings (``handling.amd.enabled``)."""
        return cls(bool(getattr(getattr(handling, "amd", None), "enabled", False)))

    def launched(self, at: float, call_id: str, amd: bool = True) -> list[CallObservation]:
        """A call was placed; ``amd=False``: the policy turned AMD off on it."""
        self._launched[call_id] = at
        if self.amd_enabled and not amd:
            self._unscreened.add(call_id)
            return [CallObservation(at, call_id, Outcome.LAUNCHED, amd=False)]
        return [CallObservation(at, call_id, Outcome.LAUNCHED)]

    def _duration(self, at: float, call_id: str) -> float:
        return max(0.0, at - self._launched.get(call_id, at))

    def _classify(self, at: float, call_id: str, live: bool) -> list[CallObservation]:
        if call_id in self._done:
            return []
        self._done.add(call_id)
        self._answered.discard(call_id)
        if live:
            self._live.add(call_id)
        outcome = Outcome.HUMAN_ANSWERED if live else Outcome.MACHINE_ANSWERED
        return [CallObservation(at, call_id, outcome, duration=self._duration(at, call_id))]

    def answered(self, at: float, call_id: str) -> list[CallObservation]:
        """The callee picked up: live at once without AMD, else wait for the verdict (or, AMD
        turned off on this call, for an agent)."""
        if call_id in self._unscreened:
            if call_id in self._done or call_id in self._answered:
                return []
            self._answered.add(call_id)
            duration = self._duration(at, call_id)
            return [CallObservation(at, call_id, Outcome.UNSCREENED, duration=duration)]
        if not self.amd_enabled:
            return self._classify(at, call_id, live=True)
        if call_id not in self._done:
            self._answered.add(call_id)
        return []

    def amd_verdict(
        self, at: float, call_id: str, status: str, action: str
    ) -> list[CallObservation]:
        """AMD decided ``status`` and the campaign chose ``action`` (late reports: ignored)."""
        if call_id not in self._launched:
            return []
        return self._classify(at, call_id, is_live_verdict(status, action))

    def _screened_by_agent(self, at: float, call_id: str, live: bool) -> list[CallObservation]:
        """An unscreened answer's outcome: a person (``LIVE``) or a machine (nothing more: its
        agent demand was counted at the answer)."""
        if call_id in self._done:
            return []
        self._done.add(call_id)
        self._answered.discard(call_id)
        if not live:
            return []
        self._live.add(call_id)
        return [CallObservation(at, call_id, Outcome.LIVE)]

    def connected(
        self, at: float, call_id: str, wait: float, machine: bool = False
    ) -> list[CallObservation]:
        """An agent took the call: it is live even if no verdict was heard first, unless AMD was
        off on it and the agent found a machine (``machine``: the agent's disposition)."""
        if call_id in self._unscreened:
            out = self._screened_by_agent(at, call_id, live=not machine)
        else:
            out = self._classify(at, call_id, live=True)
        return [*out, CallObservation(at, call_id, Outcome.CONNECTED, wait=wait)]

    def abandoned(self, at: float, call_id: str, wait: float) -> list[CallObservation]:
        """A live callee got no agent in time (its live answer comes first if still missing)."""
        if call_id in self._unscreened:  # person or machine: nobody can tell, so a person
            out = self._screened_by_agent(at, call_id, live=True)
            return [*out, CallObservation(at, call_id, Outcome.ABANDONED, wait=wait)]
        out = self._classify(at, call_id, live=True)
        if call_id not in self._live:  # classified as a machine, yet queued: count it anyway
            self._live.add(call_id)
            out.append(
                CallObservation(
                    at, call_id, Outcome.HUMAN_ANSWERED, duration=self._duration(at, call_id)
                )
            )
        return [*out, CallObservation(at, call_id, Outcome.ABANDONED, wait=wait)]

    def failed(self, at: float, call_id: str, cause: int) -> list[CallObservation]:
        """The call ended unanswered (busy, no answer, invalid ...)."""
        return [
            CallObservation(
                at, call_id, Outcome.FAILED, cause=cause, duration=self._duration(at, call_id)
            )
        ]

    def feed(self, observation: CallObservation) -> list[CallObservation]:
        """Classify the runner's raw call observations: its ``HUMAN_ANSWERED`` means "the PBX
        says answered"; its ``MACHINE_ANSWERED`` is dropped (``amd_verdict`` decides)."""
        o = observation
        if o.outcome is Outcome.LAUNCHED:
            return self.launched(o.at, o.call_id, o.amd)
        if o.outcome is Outcome.HUMAN_ANSWERED:
            return self.answered(o.at, o.call_id)
        if o.outcome is Outcome.CONNECTED:
            return self.connected(o.at, o.call_id, o.wait)
        if o.outcome is Outcome.ABANDONED:
            return self.abandoned(o.at, o.call_id, o.wait)
        if o.outcome is Outcome.FAILED:
            return self.failed(o.at, o.call_id, o.cause)
        return []

    def ended(self, at: float, call_id: str) -> list[CallObservation]:
        """The call is over; an answer still without a verdict was no live answer."""
        out: list[CallObservation] = []
        if call_id in self._answered and call_id not in self._unscreened:
            out = self._classify(at, call_id, live=False)
        self._unscreened.discard(call_id)
        self._launched.pop(call_id, None)
        self._answered.discard(call_id)
        self._live.discard(call_id)
        self._done.discard(call_id)
        return out
