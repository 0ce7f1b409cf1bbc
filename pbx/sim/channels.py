"""Simulated channels and the AMI events Asterisk 20 builds from them.

Field names and order follow tests/fixtures/asterisk/ami/ (Asterisk 20.20.1, stock format).
Each builder returns the ordered header tuple of one event; ``pbx.asterisk.ami.encode`` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CAUSE_TEXT", "Channel", "Headers", "STATE_DESC", "cause_text"]

Headers = tuple[tuple[str, str], ...]

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7

# Asterisk's ast_cause2str texts (main/channel.c) for the causes the sim produces.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    27: "Destination out of order",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
}


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


@dataclass
class Channel:
    """One simulated channel (a Local ``;1``/``;2`` half, a trunk leg or an agent leg)."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = DOWN
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    conn_num: str = "<unknown>"
    conn_name: str = "<unknown>"
    language: str = "en"
    accountcode: str = ""
    application: str = ""
    appdata: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    created: float = 0.0  # the PBX clock when it was registered
    hung_up: bool = False

    @property
    def state_desc(self) -> str:
        return STATE_DESC.get(self.state, "Unknown")

    def fields(self, prefix: str = "") -> Headers:
        """The channel snapshot block (``Channel`` … ``Linkedid``), optionally prefixed."""
        p = prefix
        return (
            (f"{p}Channel", self.name),
            (f"{p}ChannelState", str(self.state)),
            (f"{p}ChannelStateDesc", self.state_desc),
            (f"{p}CallerIDNum", self.cid_num),
            (f"{p}CallerIDName", self.cid_name),
            (f"{p}ConnectedLineNum", self.conn_num),
            (f"{p}ConnectedLineName", self.conn_name),
            (f"{p}Language", self.language),
            (f"{p}AccountCode", self.accountcode),
            (f"{p}Context", self.context),
            (f"{p}Exten", self.exten),
            (f"{p}Priority", str(self.priority)),
            (f"{p}Uniqueid", self.uniqueid),
            (f"{p}Linkedid", self.linkedid),
        )


def _event(name: str, privilege: str, *parts: Headers) -> Headers:
    out: list[tuple[str, str]] = [("Event", name), ("Privilege", privilege)]
    for part in parts:
        out.extend(part)
    return tuple(out)


def newchannel(ch: Channel) -> Headers:
    return _event("Newchannel", "call,all", ch.fields())


def mixmonitor(name: str, ch: Channel) -> Headers:
    """``MixMonitorStart`` / ``MixMonitorStop``: the channel block only, no file name."""
    return _event(name, "call,all", ch.fields())


def newstate(ch: Channel) -> Headers:
    return _event("Newstate", "call,all", ch.fields())


def newcallerid(ch: Channel) -> Headers:
    pres = (("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),)
    return _event("NewCallerid", "call,all", ch.fields(), pres)


def newconnectedline(ch: Channel) -> Headers:
    return _event("NewConnectedLine", "call,all", ch.fields())


def varset(ch: Channel, variable: str, value: str) -> Headers:
    return _event("VarSet", "dialplan,all", ch.fields(), (("Variable", variable), ("Value", value)))


def local_bridge(one: Channel, two: Channel) -> Headers:
    tail = (("Context", two.context), ("Exten", two.exten), ("LocalOptimization", "Yes"))
    return _event("LocalBridge", "call,all", one.fields("LocalOne"), two.fields("LocalTwo"), tail)


def dial_begin(dest: Channel, dialstring: str, caller: Channel | None = None) -> Headers:
    front = caller.fields() if caller else ()
    return _event(
        "DialBegin", "call,all", front, dest.fields("Dest"), (("DialString", dialstring),)
    )


def dial_state(dest: Channel, status: str, caller: Channel | None = None) -> Headers:
    front = caller.fields() if caller else ()
    return _event("DialState", "call,all", front, dest.fields("Dest"), (("DialStatus", status),))


def dial_end(dest: Channel, status: str, caller: Channel | None = None) -> Headers:
    front = caller.fields() if caller else ()
    return _event("DialEnd", "call,all", front, dest.fields("Dest"), (("DialStatus", status),))


def hangup_request(ch: Channel, cause: int) -> Headers:
    return _event("HangupRequest", "call,all", ch.fields(), (("Cause", str(cause)),))


def soft_hangup_request(ch: Channel, cause: int) -> Headers:
    return _event("SoftHangupRequest", "call,all", ch.fields(), (("Cause", str(cause)),))


def hangup(ch: Channel, cause: int) -> Headers:
    tail = (("Cause", str(cause)), ("Cause-txt", cause_text(cause)))
    return _event("Hangup", "call,all", ch.fields(), tail)


def originate_response(
    action_id: str | None,
    success: bool,
    channel: str,
    context: str,
    exten: str,
    reason: int,
    uniqueid: str,
    cid_num: str,
    cid_name: str,
) -> Headers:
    """OriginateResponse; ActionID is omitted when the Originate had none (as Asterisk does)."""
    aid = (("ActionID", action_id),) if action_id is not None else ()
    return _event(
        "OriginateResponse",
        "call,all",
        aid,
        (
            ("Response", "Success" if success else "Failure"),
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Reason", str(reason)),
            ("Uniqueid", uniqueid),
            ("CallerIDNum", cid_num),
            ("CallerIDName", cid_name),
        ),
    )


def core_show_channel(
    action_id: str | None, ch: Channel, now: float, bridge_id: str = ""
) -> Headers:
    seconds = int(now - ch.created)
    duration = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    aid = (("ActionID", action_id),) if action_id is not None else ()
    return (
        ("Event", "CoreShowChannel"),
        *aid,
        *ch.fields(),
        ("Application", ch.application),
        ("ApplicationData", ch.appdata),
        ("Duration", duration),
        ("BridgeId", bridge_id),
    )
