"""Simulated FreeSWITCH channels and the events FreeSWITCH 1.10 builds from them.

Header names and order follow tests/fixtures/freeswitch: the common block (``Event-Name`` ...
``Event-Sequence``), the channel block (``Channel-State`` ... ``Answer-State``), codecs, the
caller profile and the channel variables. ``CHANNEL_HANGUP_COMPLETE`` carries ``Hangup-Cause``
twice, as FreeSWITCH does. Pure: time and sequence numbers come from :class:`EventFactory`.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pbx.sim.clock import LoopClock
from pbx.sim.esl_wire import FsEvent, Pairs

__all__ = ["CAUSE_Q850", "EventFactory", "FsChannel", "STATE_NUMBER"]

STATE_NUMBER = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
}

# FreeSWITCH cause names the sim produces, with variable_hangup_cause_q850.
CAUSE_Q850 = {
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "DESTINATION_OUT_OF_ORDER": 27,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "ORIGINATOR_CANCEL": 16,
    "CHAN_NOT_IMPLEMENTED": 66,
}

_CALLING: dict[str, tuple[str, str, str]] = {
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", "626"),
    "CHANNEL_PROGRESS": (
        "switch_channel.c",
        "switch_channel_perform_mark_ring_ready_value",
        "3505",
    ),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        "943",
    ),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2408"),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", "1213"),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", "1197"),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", "1278"),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", "524"),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", "1572"),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", "95"),
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", "2021"),
    "CUSTOM": ("mod_callcenter.c", "cc_agent_update", "1000"),
}


@dataclass
class FsChannel:
    """One simulated channel (the ``-a``/``-b`` legs of a loopback call, or one SIP leg)."""

    uuid: str
    name: str
    direction: str  # "outbound" (the leg the dialer originated) or "inbound" (loopback -b)
    destination: str  # Caller-Destination-Number
    context: str  # Caller-Context
    cid_num: str
    created_us: int
    session_id: int
    variables: dict[str, str] = field(default_factory=dict)
    state: str = "CS_INIT"
    call_state: str = "DOWN"
    answer_state: str = "ringing"
    cid_name: str = ""
    callee_name: str = "Outbound Call"
    callee_num: str = ""
    rdnis: str = ""
    profile_index: int = 1
    transfer_source: str = ""
    progress_us: int = 0
    answered_us: int = 0
    hangup_us: int = 0
    hangup_cause: str = ""
    application: str = ""
    application_data: str = ""
    hit_dialplan: bool = False

    @property
    def hung_up(self) -> bool:
        return bool(self.hangup_cause)

    def channel_block(self) -> Pairs:
        """``Channel-State`` ... ``Answer-State`` (+ ``Hangup-Cause`` once hung up)."""
        out: list[tuple[str, str]] = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(STATE_NUMBER.get(self.state, 0))),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
            ("Channel-Call-UUID", self.uuid),
            ("Answer-State", self.answer_state),
        ]
        if self.hangup_cause:
            out.append(("Hangup-Cause", self.hangup_cause))
        return tuple(out)

    def caller_profile(self, prefix: str = "Caller") -> Pairs:
        """The caller-profile block (``Caller-*``; ``Channel-*`` in a connect reply)."""
        p = prefix
        out = [
            (f"{p}-Direction", self.direction),
            (f"{p}-Logical-Direction", self.direction),
            (f"{p}-Dialplan", "XML" if self.profile_index > 1 else "xml"),
        ]
        if self.cid_name:
            out.append((f"{p}-Caller-ID-Name", self.cid_name))
        out += [
            (f"{p}-Caller-ID-Number", self.cid_num),
            (f"{p}-Orig-Caller-ID-Number", self.variables.get("origination_caller_id_number", "")),
        ]
        if self.callee_name:
            out.append((f"{p}-Callee-ID-Name", self.callee_name))
        out += [
            (f"{p}-Callee-ID-Number", self.callee_num),
            (f"{p}-ANI", self.variables.get("origination_caller_id_number", self.cid_num)),
            (f"{p}-Destination-Number", self.destination),
            (f"{p}-Unique-ID", self.uuid),
            (
                f"{p}-Source",
                "mod_loopback"
                if self.name.startswith("loopback/")
                else "src/switch_ivr_originate.c",
            ),
        ]
        if self.transfer_source:
            out.append((f"{p}-Transfer-Source", self.transfer_source))
        out.append((f"{p}-Context", self.context))
        if self.rdnis:
            out.append((f"{p}-RDNIS", self.rdnis))
        out += [
            (f"{p}-Channel-Name", self.name),
            (f"{p}-Profile-Index", str(self.profile_index)),
            (f"{p}-Profile-Created-Time", str(self.created_us)),
            (f"{p}-Channel-Created-Time", str(self.created_us)),
            (f"{p}-Channel-Answered-Time", str(self.answered_us)),
            (f"{p}-Channel-Progress-Time", str(self.progress_us)),
            (f"{p}-Channel-Progress-Media-Time", "0"),
            (f"{p}-Channel-Hangup-Time", str(self.hangup_us)),
            (f"{p}-Channel-Transfer-Time", "0"),
            (f"{p}-Channel-Resurrect-Time", "0"),
            (f"{p}-Channel-Bridged-Time", "0"),
            (f"{p}-Channel-Last-Hold", "0"),
            (f"{p}-Channel-Hold-Accum", "0"),
            (f"{p}-Screen-Bit", "true"),
            (f"{p}-Privacy-Hide-Name", "false"),
            (f"{p}-Privacy-Hide-Number", "false"),
        ]
        return tuple(out)

    def variable_block(self) -> Pairs:
        return tuple((f"variable_{k}", v) for k, v in self.variables.items())

    def show_row(self, hostname: str) -> dict[str, str]:
        """One row of ``show channels as json``."""
        created = self.created_us // 1_000_000
        return {
            "uuid": self.uuid,
            "direction": self.direction,
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)),
            "created_epoch": str(created),
            "name": self.name,
            "state": self.state,
            "cid_name": self.cid_name,
            "cid_num": self.cid_num,
            "ip_addr": "",
            "dest": self.destination,
            "application": self.application,
            "application_data": self.application_data,
            "dialplan": "xml",
            "context": self.context,
            "read_codec": "L16",
            "read_rate": "8000",
            "read_bit_rate": "128000",
            "write_codec": "L16",
            "write_rate": "8000",
            "write_bit_rate": "128000",
            "secure": "",
            "hostname": hostname,
            "presence_id": "",
            "presence_data": "",
            "accountcode": "",
            "callstate": self.call_state,
            "callee_name": self.callee_name,
            "callee_num": self.callee_num,
            "callee_direction": "",
            "call_uuid": self.uuid if self.direction == "outbound" else "",
            "sent_callee_name": "",
            "sent_callee_num": "",
            "initial_cid_name": "",
            "initial_cid_num": self.cid_num,
            "initial_ip_addr": "",
            "initial_dest": self.destination,
            "initial_dialplan": "xml",
            "initial_context": self.context,
        }


_CODECS: Pairs = (
    ("Channel-Read-Codec-Name", "L16"),
    ("Channel-Read-Codec-Rate", "8000"),
    ("Channel-Read-Codec-Bit-Rate", "128000"),
    ("Channel-Write-Codec-Name", "L16"),
    ("Channel-Write-Codec-Rate", "8000"),
    ("Channel-Write-Codec-Bit-Rate", "128000"),
)


class EventFactory:
    """Builds events with the switch's identity, a running ``Event-Sequence`` and its clock."""

    def __init__(
        self,
        hostname: str = "sim",
        switchname: str = "pacedial-sim",
        clock: Callable[[], float] | None = None,
        core_uuid: str | None = None,
    ) -> None:
        self.hostname = hostname
        self.switchname = switchname
        self.clock = clock or LoopClock()
        self.core_uuid = core_uuid or str(uuidlib.uuid4())
        self.started = self.clock()
        self._seq = 0

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def base(self, name: str, calling: str | None = None) -> list[tuple[str, str]]:
        """The common header block every event starts with."""
        self._seq += 1
        now = self.clock()
        file, func, line = _CALLING.get(
            calling or name, ("switch_event.c", "switch_event_fire", "1")
        )
        return [
            ("Event-Name", name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", self.hostname),
            ("FreeSWITCH-Switchname", self.switchname),
            ("FreeSWITCH-IPv4", "127.0.0.1"),
            ("FreeSWITCH-IPv6", "::1"),
            ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))),
            ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))),
            ("Event-Date-Timestamp", str(int(now * 1_000_000))),
            ("Event-Calling-File", file),
            ("Event-Calling-Function", func),
            ("Event-Calling-Line-Number", line),
            ("Event-Sequence", str(self._seq)),
        ]

    def channel_event(self, name: str, ch: FsChannel, *extra: tuple[str, str]) -> FsEvent:
        """A full channel event (block, codecs, caller profile, variables, then ``extra``)."""
        head = self.base(name)
        if name == "CHANNEL_HANGUP_COMPLETE":
            head.append(("Hangup-Cause", ch.hangup_cause))
        headers = (
            *head,
            *ch.channel_block(),
            *_CODECS,
            *ch.caller_profile(),
            *ch.variable_block(),
            *extra,
        )
        return FsEvent(name, headers, unique_id=ch.uuid)

    def state_event(self, ch: FsChannel) -> FsEvent:
        """``CHANNEL_STATE``: the short form (no channel variables)."""
        headers = (*self.base("CHANNEL_STATE"), *ch.channel_block(), *_CODECS, *ch.caller_profile())
        return FsEvent("CHANNEL_STATE", headers, unique_id=ch.uuid)

    def channel_data(self, ch: FsChannel) -> Pairs:
        """The headers of an outbound ``connect`` reply (``Event-Name: CHANNEL_DATA``)."""
        head = self.base("CHANNEL_DATA")
        return (
            *head,
            *ch.caller_profile("Channel"),
            *ch.channel_block(),
            *_CODECS,
            *ch.caller_profile(),
            *ch.variable_block(),
        )

    def background_job(self, job_uuid: str, command: str, arg: str, result: str) -> FsEvent:
        """``BACKGROUND_JOB`` with the api result as its body."""
        headers = (
            *self.base("BACKGROUND_JOB"),
            ("Job-UUID", job_uuid),
            ("Job-Command", command),
            ("Job-Command-Arg", arg),
        )
        return FsEvent("BACKGROUND_JOB", headers, body=result)

    def heartbeat(self, sessions: int, since_startup: int) -> FsEvent:
        """``HEARTBEAT`` with the switch's up-time and session counters."""
        up_ms = int((self.clock() - self.started) * 1000)
        headers = (
            *self.base("HEARTBEAT"),
            ("Event-Info", "System Ready"),
            ("Up-Time", uptime_text(up_ms)),
            ("FreeSWITCH-Version", "1.10.12-release~64bit"),
            ("Uptime-msec", str(up_ms)),
            ("Session-Count", str(sessions)),
            ("Max-Sessions", "1000"),
            ("Session-Per-Sec", "100"),
            ("Session-Per-Sec-Last", "0"),
            ("Session-Per-Sec-Max", "0"),
            ("Session-Per-Sec-FiveMin", "0"),
            ("Session-Since-Startup", str(since_startup)),
            ("Session-Peak-Max", str(sessions)),
            ("Session-Peak-FiveMin", str(sessions)),
            ("Idle-CPU", "99.000000"),
        )
        return FsEvent("HEARTBEAT", headers)

    def custom(self, subclass: str, *extra: tuple[str, str]) -> FsEvent:
        """A ``CUSTOM`` event (``callcenter::info``)."""
        headers = (*self.base("CUSTOM"), ("Event-Subclass", subclass), *extra)
        return FsEvent("CUSTOM", headers, subclass=subclass)


def uptime_text(ms: int) -> str:
    """``0 years, 0 days, 0 hours, 0 minutes, 20 seconds, 25 milliseconds, 0 microseconds``."""
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    y, d = divmod(d, 365)
    return (
        f"{y} years, {d} days, {h} hours, {m} minutes, {s} seconds, "
        f"{milli} milliseconds, 0 microseconds"
    )
