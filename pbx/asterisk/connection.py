"""Sans-IO AMI connection: login state, ActionID correlation and list collection.

``AmiConnection`` is to AMI what h11's ``Connection`` is to HTTP: no socket, no asyncio, no
clock. Bytes received go in with ``receive_data``; ``next_event`` returns what they mean
(``Greeted``, ``LoggedIn``, ``LoginRefused``, ``ActionDone``, ``ListDone``, ``Unsolicited``) or
None when more bytes are needed. Actions go out with ``send_action`` / ``send_list_action``,
which register the ActionID and return the bytes to write. ``connection_lost`` ends the link
and names the actions that were sent but never answered. One instance per TCP connection: a
reconnect starts a new one (so nothing is ever re-sent by accident).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from pbx.asterisk.ami import AmiBanner, AmiMessage, AmiParser, encode

__all__ = [
    "ActionDone",
    "AmiConnection",
    "AmiStateError",
    "Greeted",
    "ListDone",
    "LoggedIn",
    "LoginRefused",
    "Unsolicited",
]


class AmiStateError(Exception):
    """An action was sent in a state that does not allow it (before login, after close...)."""


@dataclass(frozen=True)
class Greeted:
    """The banner arrived (``Asterisk Call Manager/9.0.0``)."""

    banner: str


@dataclass(frozen=True)
class LoggedIn:
    """Asterisk accepted the Login."""


@dataclass(frozen=True)
class LoginRefused:
    """Asterisk refused the Login; ``message`` is Asterisk's own text."""

    message: str


@dataclass(frozen=True)
class ActionDone:
    """The response to one action (``response.response`` is Success, Error, ...)."""

    action_id: str
    response: AmiMessage


@dataclass(frozen=True)
class ListDone:
    """A list action answered Success and its closing event arrived; ``items`` in order."""

    action_id: str
    response: AmiMessage | None  # None if the closing event came before any response
    items: tuple[AmiMessage, ...]


@dataclass(frozen=True)
class Unsolicited:
    """An event that answers no pending list action (call and agent events)."""

    message: AmiMessage


AmiEvent = Greeted | LoggedIn | LoginRefused | ActionDone | ListDone | Unsolicited


@dataclass
class _List:
    complete: str  # the event that ends the list
    response: AmiMessage | None = None
    items: list[AmiMessage] = field(default_factory=list)


class AmiConnection:
    """One AMI client connection's protocol state.

    ``state``: ``"greeting"`` (waiting for the banner) → ``"ready"`` (may log in) →
    ``"logging_in"`` → ``"logged_in"``; ``"refused"`` after a refused Login; ``"closed"``
    after ``connection_lost``. Only Login may be sent before ``logged_in``.
    """

    def __init__(
        self, id_prefix: str = "pacedial", *, skip_events: frozenset[str] = frozenset()
    ) -> None:
        self.state = "greeting"
        self._parser = AmiParser(skip_events=skip_events)  # events nobody reads: dropped unread
        self._pending: dict[str, _List | None] = {}  # sent, unanswered (lists: their state)
        self._login_id: str | None = None
        self._ids = itertools.count(1)
        self._prefix = id_prefix
        self._out: deque[AmiEvent] = deque()
        self._lists = 0  # how many of the pending actions are list actions

    # --- sending ---------------------------------------------------------------------------

    def login(self, username: str, secret: str, action_id: str | None = None) -> bytes:
        """The Login action's bytes (after ``Greeted``)."""
        if self.state != "ready":
            raise AmiStateError(f"AMI login in state {self.state}")
        headers = [("Action", "Login"), ("Username", username), ("Secret", secret)]
        if action_id is not None:
            headers.insert(1, ("ActionID", action_id))
        aid, data = self._register(headers, None, True)
        self.state = "logging_in"
        self._login_id = aid
        return data

    def send_action(self, headers: Iterable[tuple[str, str]]) -> tuple[str, bytes]:
        """Register one action; its ActionID (the caller's, or a fresh one) and its bytes."""
        return self._register(list(headers), None)

    def send_list_action(
        self, headers: Iterable[tuple[str, str]], complete: str
    ) -> tuple[str, bytes]:
        """Register a list action whose events end with the ``complete`` event."""
        return self._register(list(headers), _List(complete))

    def forget(self, action_id: str) -> None:
        """Stop waiting for an action's answer (e.g. the caller gave up on a Ping)."""
        if action_id in self._pending:
            self._answered(action_id)

    def pending(self) -> list[str]:
        """ActionIDs sent and not answered yet, in sending order."""
        return list(self._pending)

    def is_pending(self, action_id: str) -> bool:
        """Whether ``action_id`` was sent on this connection and is not answered yet."""
        return action_id in self._pending

    # --- receiving -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket (any chunking)."""
        self._parser.feed(data)

    def next_event(self) -> AmiEvent | None:
        """The next protocol event, or None when more bytes are needed.

        Raises ``AmiProtocolError`` when the stream is not AMI (drop the link).
        """
        out = self._out
        while not out:
            msg = self._parser.next_message()
            if msg is None:
                return None
            self._handle(msg)
        return out.popleft()

    def take_warnings(self) -> list[str]:
        """Decoding warnings of the received bytes (invalid UTF-8...), cleared on reading."""
        return self._parser.take_warnings()

    def connection_lost(self) -> list[str]:
        """The link is gone: return the ActionIDs that were sent and never answered."""
        lost = list(self._pending)
        self._pending.clear()
        self._lists = 0
        self.state = "closed"
        return lost

    # --- internals -------------------------------------------------------------------------

    def _register(
        self, headers: list[tuple[str, str]], listing: _List | None, login: bool = False
    ) -> tuple[str, bytes]:
        if self.state == "closed":
            raise AmiStateError("AMI connection is closed")
        action = next((v for k, v in headers if k.lower() == "action"), None)
        if action is None:
            raise ValueError("AMI action needs an 'Action' header")
        if self.state != "logged_in" and not login and action.lower() != "logoff":
            raise AmiStateError(f"AMI {action} before login (state {self.state})")
        aid = next((v for k, v in headers if k.lower() == "actionid"), None)
        if aid is None:
            aid = f"{self._prefix}-{next(self._ids)}"
            headers = [headers[0], ("ActionID", aid), *headers[1:]]
        if aid in self._pending:
            raise ValueError(f"ActionID {aid!r} is already pending")
        data = encode(headers)  # validates first (header injection): nothing registered on error
        self._pending[aid] = listing
        if listing is not None:
            self._lists += 1
        return aid, data

    def _answered(self, aid: str) -> None:
        if self._pending.pop(aid) is not None:
            self._lists -= 1

    def _handle(self, msg: AmiMessage | AmiBanner) -> None:
        out = self._out
        if isinstance(msg, AmiBanner):
            if self.state == "greeting":
                self.state = "ready"
                out.append(Greeted(msg.text))
            return  # a second banner is ignored
        if not self._lists and msg.event is not None:
            out.append(Unsolicited(msg))  # no list is being collected: its ActionID is moot
            return
        aid = msg.action_id
        if msg.event is None:  # a response
            if aid is None or aid not in self._pending:
                return  # unknown ActionID: nobody waits for it
            if aid == self._login_id:
                self._answered(aid)
                self._login_id = None
                if msg.response == "Success":
                    self.state = "logged_in"
                    out.append(LoggedIn())
                else:
                    self.state = "refused"
                    out.append(LoginRefused(msg.get("Message") or msg.response or ""))
                return
            listing = self._pending[aid]
            if listing is None or msg.response != "Success":
                self._answered(aid)
                out.append(ActionDone(aid, msg))
            else:
                listing.response = msg
            return
        listing = self._pending.get(aid) if aid is not None else None
        if listing is not None:
            if msg.event == listing.complete:
                self._answered(aid)  # type: ignore[arg-type]
                out.append(ListDone(aid, listing.response, tuple(listing.items)))  # type: ignore[arg-type]
            else:
                listing.items.append(msg)
            return
        out.append(Unsolicited(msg))
