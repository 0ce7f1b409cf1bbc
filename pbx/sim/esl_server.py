"""The simulated FreeSWITCH's inbound event socket (``mod_event_socket``, port 8021).

Protocol-level commands are handled here (``auth``, ``event json|plain ...``, ``noevents``,
``exit``); ``api`` and ``bgapi`` go to the switch (:class:`Switch`). Events are sent only to
authenticated connections that subscribed to them, in the format of their last ``event``
command. Bytes are parsed with :class:`pbx.freeswitch.esl.EslCommandParser`.
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from typing import Protocol

from pbx.freeswitch.esl import EslCommandParser, EslMessage, EslProtocolError, command_line
from pbx.sim.esl_wire import (
    FsEvent,
    encode_api_response,
    encode_auth_request,
    encode_disconnect_notice,
    encode_reply,
)
from pbx.sim.line_server import LineConnection, LineServer

__all__ = ["EslConnection", "EslInboundServer", "Switch"]


class Switch(Protocol):
    """What the server asks of the simulated switch."""

    def api(self, command: str) -> str: ...

    def bgapi(self, command: str, job_uuid: str) -> None: ...


class EslConnection(LineConnection):
    """One inbound ESL client and its subscription."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        super().__init__(writer)
        self.parser = EslCommandParser()
        self.authed = False
        self.format = "json"
        self.names: set[str] = set()
        self.subclasses: set[str] = set()
        self.all = False
        self.commands: list[str] = []  # command lines received, for tests

    def wants(self, event: FsEvent) -> bool:
        """True when this connection subscribed to ``event``."""
        if not self.authed:
            return False
        if self.all:
            return True
        if event.name == "CUSTOM":
            return bool(event.subclass) and event.subclass in self.subclasses
        return event.name in self.names

    def subscribe(self, fmt: str, words: list[str]) -> None:
        """``event <fmt> NAME ... [CUSTOM sub::class ...]`` (adds to what was there)."""
        self.format = fmt
        custom = False
        for word in words:
            if word == "ALL":
                self.all = True
            elif word == "CUSTOM":
                custom = True
            elif custom:
                self.subclasses.add(word)
            else:
                self.names.add(word)

    def send(self, data: bytes) -> None:
        """Queue encoded bytes (dropped silently once the connection is closing)."""
        self.write(data)


class EslInboundServer(LineServer[EslConnection]):
    """Listens on loopback; ``deliver`` sends an event to every connection subscribed to it."""

    label = "ESL"
    protocol_errors = (EslProtocolError,)

    def __init__(
        self, switch: Switch, *, host: str = "127.0.0.1", port: int = 0, password: str = "ClueCon"
    ) -> None:
        super().__init__(host=host, port=port)
        self._switch = switch
        self.password = password

    def deliver(self, event: FsEvent) -> None:
        """Send ``event`` to every subscribed connection (encoded once per format)."""
        for conn in list(self.connections):
            if conn.wants(event):
                conn.send(event.encoded(conn.format))

    def _accept(self, writer: asyncio.StreamWriter) -> EslConnection:
        return EslConnection(writer)

    def _greeting(self) -> bytes:
        return encode_auth_request()

    async def _received(self, conn: EslConnection, data: bytes) -> bool:
        conn.parser.feed(data)
        while (msg := conn.parser.next_message()) is not None:
            if not self._dispatch(conn, msg):
                return False
        return True

    def _dispatch(self, conn: EslConnection, msg: EslMessage) -> bool:
        """Handle one command; False closes the connection."""
        line = command_line(msg).strip()
        verb, _, rest = line.partition(" ")
        conn.commands.append(verb)
        if verb == "exit":
            conn.send(encode_reply("+OK bye"))
            conn.send(encode_disconnect_notice())
            return False
        if not conn.authed:
            if verb != "auth":
                conn.send(encode_reply("-ERR command not found"))
                return True
            if rest != self.password:
                conn.send(encode_reply("-ERR invalid"))
                conn.send(encode_disconnect_notice())
                return False
            conn.authed = True
            conn.send(encode_reply("+OK accepted"))
            return True
        if verb == "event":
            fmt, _, names = rest.partition(" ")
            if fmt not in ("json", "plain"):
                conn.send(encode_reply(f"-ERR invalid event format {fmt!r}"))
                return True
            conn.subscribe(fmt, names.split())
            conn.send(encode_reply(f"+OK event listener enabled {fmt}"))
        elif verb == "noevents":
            conn.names.clear()
            conn.subclasses.clear()
            conn.all = False
            conn.send(encode_reply("+OK no longer listening for events"))
        elif verb == "api":
            conn.send(encode_api_response(self._switch.api(rest)))
        elif verb == "bgapi":
            job = msg.header("Job-UUID") or str(uuidlib.uuid4())
            conn.send(encode_reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
            self._switch.bgapi(rest, job)
        else:
            conn.send(encode_reply("-ERR command not found"))
        return True
