"""Discrete-event, virtual-time model of one shift driving any pacing policy.

A heap of timed events (call verdicts, abandon deadlines, talk and wrap-up ends, agent logins,
breaks and logouts, policy ticks). The policy sees only what a real dialer sees: observations
as they happen and a :class:`PacingView` at each decision. All randomness comes from one
``random.Random(seed)``, so a seed reproduces a day exactly.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

from dialer_core.pacing.amd_plan import AmdSplit
from dialer_core.pacing.classify import AnswerClassifier
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    AgentView,
    PacingPolicy,
    PacingView,
)
from dialer_core.simulate.scenario import Scenario

# event kinds, ordered so that simultaneous events resolve deterministically
_VERDICT, _FAIL, _ABANDON, _TALK_END, _WRAP_END, _ROBOT_END = 0, 1, 2, 3, 4, 5
_LOGIN, _BREAK, _BREAK_END, _LOGOUT, _TICK, _MACHINE_END = 6, 7, 8, 9, 10, 11

_STAFFED = frozenset((AgentStatus.IDLE, AgentStatus.TALKING, AgentStatus.WRAPUP))

CAUSE_NORMAL, CAUSE_BUSY, CAUSE_NO_ANSWER, CAUSE_UNALLOCATED, CAUSE_CONGESTION = 16, 17, 19, 1, 34


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    sigma = math.sqrt(math.log1p(cv * cv))
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


@dataclass
class AgentRecord:
    """Per-agent bookkeeping: status, pending break/logout, time spent in each status."""

    name: str
    status: AgentStatus = AgentStatus.LOGGED_OUT
    since: float = 0.0
    login_at: float = -1.0
    logout_at: float = -1.0
    pending_break: float = 0.0  # seconds of break to take after the current call
    pending_logout: bool = False
    break_until: float = 0.0
    on_break: bool = False
    time_in: dict[AgentStatus, float] = field(default_factory=dict)
    machine_time: float = 0.0  # seconds spent disposing of machines (AMD off): not talk


@dataclass
class Trace:
    """Raw facts of a simulated day, turned into metrics by ``metrics.summarise``."""

    launched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    answer_times: list[float] = field(default_factory=list)  # live answers (incl. counted AMD FP)
    abandon_times: list[float] = field(default_factory=list)
    connect_waits: list[float] = field(default_factory=list)
    idle_gaps: list[float] = field(default_factory=list)
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, in, talk, idle
    max_channels: int = 0
    max_lines_ratio: float = 0.0
    agents: list[AgentRecord] = field(default_factory=list)
    end_time: float = 0.0
    decisions: int = 0
    negative_decisions: int = 0
    alarm: str = ""  # the brake's alarm, if it paused the campaign
    alarm_at: float = -1.0
    pbx_events: list[tuple[str, float, str, tuple]] = field(default_factory=list)  # if recorded


class Simulator:
    """Run ``policy`` through ``scenario``; ``robot=True`` sends live answers to robot dialogs."""

    def __init__(
        self,
        scenario: Scenario,
        policy: PacingPolicy,
        seed: int,
        tick: float = 1.0,
        robot: bool = False,
        decide_on_events: bool = True,
        record_events: bool = False,
    ) -> None:
        self.sc = scenario
        self.policy = policy
        self.rng = random.Random(seed)
        self.tick = tick
        self.robot = robot
        self.decide_on_events = decide_on_events
        self.record_events = record_events
        self.answers = AnswerClassifier(amd_enabled=True)  # the live runner's classification
        self.shift_end = scenario.shift_hours * 3600.0
        self.now = 0.0
        self._heap: list[tuple[float, int, int, object]] = []
        self._seq = 0
        self._calls: dict[int, float] = {}  # ringing call id → launch time
        self._fates: dict[int, tuple[bool, bool]] = {}  # call id → (a person, AMD runs)
        self._machines: set[int] = set()  # answered by a machine, AMD off: waiting for an agent
        self.amd_split = AmdSplit()  # which calls run AMD (the policy's amd_off_share)
        self._waiting: dict[int, float] = {}  # call id → verdict time (FIFO by insertion)
        self._channels = 0
        self._robot_sessions = 0
        self._next_call = 0
        self.trace = Trace()
        self.agents = [AgentRecord(f"a{i:03d}") for i in range(scenario.agents.count)]
        self.trace.agents = self.agents
        self._views: dict[str, AgentView] = {}
        self._view_cache: PacingView | None = None
        self._agents_cache: tuple[AgentView, ...] | None = None  # kept until a status changes
        self._staffed = 0  # agents idle, talking or in wrap-up
        self._idle: dict[str, AgentRecord] = {}  # insertion order = longest idle first
        self._last_decision = -math.inf
        for i in range(scenario.agents.phantom):  # seen idle all day, never there
            name = f"phantom{i:03d}"
            self._views[name] = AgentView(name, AgentStatus.IDLE, 0.0)
            policy.observe(AgentObservation(0.0, name, AgentStatus.IDLE))

    # ---- scheduling -------------------------------------------------------------------
    def _push(self, at: float, kind: int, payload: object = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, kind, self._seq, payload))

    def _plan_agents(self) -> None:
        spec = self.sc.agents
        rng = self.rng
        for agent in self.agents:
            login = rng.uniform(0, spec.ramp_up_minutes * 60)
            logout = self.shift_end - rng.uniform(0, spec.ramp_down_minutes * 60)
            logout = max(logout, login + 60)
            self._push(login, _LOGIN, agent)
            self._push(logout, _LOGOUT, agent)
            span = logout - login
            for k in range(spec.breaks_per_agent):
                center = login + span * (k + 1) / (spec.breaks_per_agent + 1)
                at = center + rng.uniform(-0.1, 0.1) * span
                self._push(at, _BREAK, (agent, spec.break_minutes * 60))
            if rng.random() < spec.lunch_share:
                at = login + span * rng.uniform(0.4, 0.6)
                self._push(at, _BREAK, (agent, spec.lunch_minutes * 60))

    # ---- view -------------------------------------------------------------------------
    def view(self) -> PacingView:
        if self._view_cache is None:
            extra = {"robot_sessions": float(self._robot_sessions)} if self.robot else {}
            if self._agents_cache is None:
                self._agents_cache = tuple(self._views.values())
            self._view_cache = PacingView(
                agents=self._agents_cache,
                ringing=tuple(self._calls.values()),
                waiting=tuple(self._waiting.values()),
                extra=extra,
            )
        return self._view_cache

    def _dirty(self) -> None:
        self._view_cache = None

    # ---- agents -----------------------------------------------------------------------
    def _set_status(self, agent: AgentRecord, status: AgentStatus) -> None:
        now = self.now
        if agent.status is not AgentStatus.LOGGED_OUT:
            agent.time_in[agent.status] = agent.time_in.get(agent.status, 0.0) + now - agent.since
        if agent.status is AgentStatus.IDLE:
            del self._idle[agent.name]
            if status is AgentStatus.TALKING:
                self.trace.idle_gaps.append(now - agent.since)
        self._staffed += (status in _STAFFED) - (agent.status in _STAFFED)
        agent.status, agent.since = status, now
        if status is AgentStatus.LOGGED_OUT:
            agent.logout_at = now
            self._views.pop(agent.name, None)
        else:
            self._views[agent.name] = AgentView(agent.name, status, now)
        if status is AgentStatus.IDLE:
            self._idle[agent.name] = agent
        self._agents_cache = None
        self._dirty()
        self.policy.observe(AgentObservation(now, agent.name, status))

    def _become_available(self, agent: AgentRecord) -> None:
        """After wrap-up or a break: honour a pending logout/break, else take a waiting call."""
        if agent.pending_logout:
            self._set_status(agent, AgentStatus.LOGGED_OUT)
            return
        if agent.pending_break > 0:
            self._start_break(agent, agent.pending_break)
            agent.pending_break = 0.0
            return
        self._set_status(agent, AgentStatus.IDLE)
        if self._waiting:
            call_id = next(iter(self._waiting))
            self._connect(call_id, agent)
        elif self.decide_on_events:
            self._decide()

    def _connect(self, call_id: int, agent: AgentRecord) -> None:
        verdict_at = self._waiting.pop(call_id)
        wait = self.now - verdict_at
        self.trace.connect_waits.append(wait)
        if call_id in self._machines:  # AMD was off: the agent disposes of a machine
            self._machines.discard(call_id)
            self._pbx("connected", call_id, wait, True)
            self._pbx("ended", call_id)
            self._count("machine_to_agent")
            self._set_status(agent, AgentStatus.TALKING)
            seconds = _lognormal(self.rng, self.sc.calls.machine_disposal_seconds, 0.3)
            agent.machine_time += seconds
            self._push(self.now + seconds, _MACHINE_END, agent)
            return
        self._pbx("connected", call_id, wait)
        self._pbx("ended", call_id)  # what follows is the agent's, not pacing's
        self._count("connected")
        self._set_status(agent, AgentStatus.TALKING)
        talk = self.sc.talk
        if self.rng.random() < talk.right_party_share:
            seconds = _lognormal(self.rng, talk.right_party_mean, talk.right_party_cv)
        else:
            seconds = _lognormal(self.rng, talk.wrong_party_mean, talk.wrong_party_cv)
        self._push(self.now + seconds, _TALK_END, agent)

    # ---- calls ------------------------------------------------------------------------
    def _pbx(self, event: str, call_id: int, *args: object) -> None:
        """Hand a PBX-side call event to the classifier and its observations to the policy."""
        cid = str(call_id)
        if self.record_events:
            self.trace.pbx_events.append((event, self.now, cid, args))
        for observation in getattr(self.answers, event)(self.now, cid, *args):
            self.policy.observe(observation)

    def _count(self, outcome: str) -> None:
        self.trace.outcomes[outcome] = self.trace.outcomes.get(outcome, 0) + 1

    def _launch(self, amd_off_share: float) -> None:
        now, rng, c = self.now, self.rng, self.sc.calls
        call_id = self._next_call
        self._next_call += 1
        self.trace.launched += 1
        amd = self.amd_split.amd_on(amd_off_share)
        self._pbx("launched", call_id, amd)
        if c.trunk_channels and self._channels >= c.trunk_channels:
            self._calls[call_id] = now
            self._push(now + 0.2, _FAIL, (call_id, CAUSE_CONGESTION, "congestion"))
            return
        self._channels += 1
        self._calls[call_id] = now
        pdd = rng.uniform(c.post_dial_min, c.post_dial_max)
        u = rng.random()
        human = self.sc.human_rate_at(min(1.0, now / self.shift_end))
        if u < human + c.machine_rate:
            ring = _lognormal(rng, c.ring_mean, c.ring_cv)
            if ring > c.ring_timeout:
                self._push(
                    now + pdd + c.ring_timeout, _FAIL, (call_id, CAUSE_NO_ANSWER, "no_answer")
                )
            else:
                self._fates[call_id] = (u < human, amd)
                delay = c.amd_delay if amd else 0.0  # AMD off: to the queue at the answer
                self._push(now + pdd + ring + delay, _VERDICT, call_id)
        elif u < human + c.machine_rate + c.busy_rate:
            self._push(now + pdd + 0.5, _FAIL, (call_id, CAUSE_BUSY, "busy"))
        elif u < human + c.machine_rate + c.busy_rate + c.invalid_rate:
            self._push(now + pdd, _FAIL, (call_id, CAUSE_UNALLOCATED, "invalid"))
        else:
            self._push(now + pdd + c.ring_timeout, _FAIL, (call_id, CAUSE_NO_ANSWER, "no_answer"))

    def _end_ringing(self, call_id: int) -> None:
        del self._calls[call_id]
        self._dirty()

    def _on_fail(self, payload: tuple[int, int, str]) -> None:
        call_id, cause, outcome = payload
        self._end_ringing(call_id)
        if cause != CAUSE_CONGESTION:
            self._channels -= 1
        self._count(outcome)
        self._pbx("failed", call_id, cause)
        self._pbx("ended", call_id)

    def _on_verdict(self, call_id: int) -> None:
        self._end_ringing(call_id)
        c = self.sc.calls
        self._pbx("answered", call_id)
        is_human, amd = self._fates.pop(call_id)
        if not amd:  # every answer waits for an agent; the agent tells a machine
            if is_human:
                self.trace.answer_times.append(self.now)
            else:
                self._machines.add(call_id)
            self._wait_for_agent(call_id)
            return
        if not is_human:
            self._channels -= 1
            self._count("machine")
            self._pbx("amd_verdict", call_id, "MACHINE", "hangup")
            self._pbx("ended", call_id)
            return
        if c.amd_false_positive_rate and self.rng.random() < c.amd_false_positive_rate:
            self._channels -= 1
            self._count("amd_false_positive")
            if c.false_positives_count_as_abandoned:
                self.trace.answer_times.append(self.now)
                self.trace.abandon_times.append(self.now)
            self._pbx("amd_verdict", call_id, "MACHINE", "hangup")
            self._pbx("ended", call_id)
            return
        self.trace.answer_times.append(self.now)
        self._pbx("amd_verdict", call_id, "HUMAN", "human")
        self._wait_for_agent(call_id)

    def _wait_for_agent(self, call_id: int) -> None:
        """The answered call goes to a robot dialog or waits up to the connect limit."""
        if self.robot:
            self._count("robot")
            self._robot_sessions += 1
            self._pbx("ended", call_id)
            talk = self.sc.talk
            seconds = _lognormal(self.rng, talk.wrong_party_mean, talk.wrong_party_cv)
            self._push(self.now + seconds, _ROBOT_END, None)
            return
        self._waiting[call_id] = self.now
        self._dirty()
        if self._idle:
            self._connect(call_id, next(iter(self._idle.values())))
        else:
            self._push(self.now + self.sc.calls.connect_limit, _ABANDON, call_id)

    def _on_abandon(self, call_id: int) -> None:
        if call_id not in self._waiting:
            return
        verdict_at = self._waiting.pop(call_id)
        self._dirty()
        self._channels -= 1
        self._count("abandoned")
        if call_id in self._machines:  # nobody can tell it was a machine: a live answer
            self._machines.discard(call_id)
            self.trace.answer_times.append(self.now)
        self.trace.abandon_times.append(self.now)
        self._pbx("abandoned", call_id, self.now - verdict_at)
        self._pbx("ended", call_id)

    # ---- policy -----------------------------------------------------------------------
    def _decide(self) -> None:
        if self.now >= self.shift_end or not self._views:
            return
        view = self.view()
        self._last_decision = self.now
        n = self.policy.decide(self.now, view)
        self.trace.decisions += 1
        alarm = getattr(self.policy, "alarm", None)
        if alarm and not self.trace.alarm:  # the live runner pauses the campaign here
            self.trace.alarm, self.trace.alarm_at = alarm, self.now
        if n < 0:
            self.trace.negative_decisions += 1
            return
        share = self.policy.amd_off_share if n else 0.0
        for _ in range(n):
            self._launch(share)
        if n:
            staffed = self._staffed
            self._dirty()
            lines = len(self._calls) + len(self._waiting)
            if staffed:
                self.trace.max_lines_ratio = max(self.trace.max_lines_ratio, lines / staffed)
            self.trace.max_channels = max(self.trace.max_channels, self._channels)

    # ---- main loop --------------------------------------------------------------------
    def run(self) -> Trace:
        """Simulate the shift, then drain every call and agent; return the raw trace."""
        self._plan_agents()
        self._push(0.0, _TICK, None)
        heap = self._heap
        while heap:
            at, kind, _, payload = heapq.heappop(heap)
            self.now = at
            if kind == _TICK:
                self._on_tick()
            elif kind == _VERDICT:
                self._on_verdict(payload)
            elif kind == _FAIL:
                self._on_fail(payload)
            elif kind == _ABANDON:
                self._on_abandon(payload)
            elif kind == _TALK_END:
                self._channels -= 1
                self._set_status(payload, AgentStatus.WRAPUP)
                wrap = _lognormal(self.rng, self.sc.talk.wrap_mean, self.sc.talk.wrap_cv)
                self._push(at + wrap, _WRAP_END, payload)
            elif kind == _WRAP_END:
                self._become_available(payload)
            elif kind == _MACHINE_END:
                self._channels -= 1
                self._become_available(payload)
            elif kind == _ROBOT_END:
                self._channels -= 1
                self._robot_sessions -= 1
                self._dirty()
            else:
                self._on_agent_event(kind, payload)
        self.trace.end_time = self.now
        return self.trace

    def _on_tick(self) -> None:
        if self.now - self._last_decision >= self.tick - 1e-9:
            self._decide()
        if int(self.now) % 60 == 0:
            logged = len(self._views)
            talking = sum(1 for a in self._views.values() if a.status is AgentStatus.TALKING)
            self.trace.samples.append((self.now, logged, talking, len(self._idle)))
        if self.now + self.tick < self.shift_end:
            self._push(self.now + self.tick, _TICK, None)

    def _start_break(self, agent: AgentRecord, seconds: float) -> None:
        """A pause, or a log-out and back in when the scenario's agents log out for breaks."""
        away = AgentStatus.LOGGED_OUT if self.sc.agents.breaks_log_out else AgentStatus.PAUSED
        self._set_status(agent, away)
        agent.on_break = True
        agent.break_until = self.now + seconds
        self._push(agent.break_until, _BREAK_END, agent)

    def _on_agent_event(self, kind: int, payload: object) -> None:
        if kind == _LOGIN:
            agent: AgentRecord = payload  # type: ignore[assignment]
            agent.login_at = self.now
            self._become_available(agent)
        elif kind == _LOGOUT:
            agent = payload  # type: ignore[assignment]
            if agent.status in (AgentStatus.IDLE, AgentStatus.PAUSED) or agent.on_break:
                agent.on_break = False
                if agent.status is not AgentStatus.LOGGED_OUT:
                    self._set_status(agent, AgentStatus.LOGGED_OUT)
            elif agent.status is not AgentStatus.LOGGED_OUT:
                agent.pending_logout = True
        elif kind == _BREAK:
            agent, seconds = payload  # type: ignore[misc]
            if agent.status is AgentStatus.IDLE:
                self._start_break(agent, seconds)
            elif agent.on_break:
                agent.break_until = max(agent.break_until, self.now + seconds)
                self._push(agent.break_until, _BREAK_END, agent)
            elif agent.status is not AgentStatus.LOGGED_OUT:
                agent.pending_break = max(agent.pending_break, seconds)
        elif kind == _BREAK_END:
            agent = payload  # type: ignore[assignment]
            if agent.on_break and self.now >= agent.break_until - 1e-9:
                agent.on_break = False
                self._become_available(agent)
