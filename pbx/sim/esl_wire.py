"""Sans-IO ESL encoding, FreeSWITCH's side: replies, api responses, events, notices.

The dialer-side codec (``pbx.freeswitch.esl``) parses what these functions write. Shapes follow
tests/fixtures/freeswitch (FreeSWITCH 1.10.12): bare LF, ``Content-Length`` before
``Content-Type`` on events, JSON bodies without a trailing newline, plain event headers
URL-encoded the way ``switch_url_encode`` does it, a background job's body as ``_body`` (JSON)
or an inner ``Content-Length`` block (plain).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring, encode_basestring_ascii
from urllib.parse import quote

__all__ = [
    "GOODBYE",
    "FsEvent",
    "Pairs",
    "encode_api_response",
    "encode_auth_request",
    "encode_connect_reply",
    "encode_disconnect_notice",
    "encode_event",
    "encode_linger_notice",
    "encode_reply",
    "url_encode",
]

Pairs = tuple[tuple[str, str], ...]

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

# switch_utils.c SWITCH_URL_UNSAFE; every other printable ASCII byte is kept as is.
_UNSAFE = '\r\n #%&+:;<=>?@[\\]^`{|}"'
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in _UNSAFE)


def url_encode(value: str) -> str:
    """``%XX``-encode the bytes FreeSWITCH encodes in plain event headers (UTF-8 first)."""
    return quote(value, safe=_SAFE, encoding="utf-8")


@dataclass(frozen=True)
class FsEvent:
    """One FreeSWITCH event: headers in wire order (duplicates kept) and an optional body."""

    name: str
    headers: Pairs
    body: str = ""
    unique_id: str = ""  # the channel it belongs to ("" for HEARTBEAT, BACKGROUND_JOB...)
    subclass: str = ""  # Event-Subclass of CUSTOM events
    _cache: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def encoded(self, fmt: str) -> bytes:
        """The whole message (outer headers + body) in ``json`` or ``plain``, built once."""
        data = self._cache.get(fmt)
        if data is None:
            data = encode_event(self.headers, self.body, fmt)
            self._cache[fmt] = data
        return data


def encode_event(headers: Iterable[tuple[str, str]], body: str, fmt: str) -> bytes:
    """A ``text/event-json`` or ``text/event-plain`` message."""
    if fmt == "json":
        # json.dumps's own string encoders, without its per-call set-up (an event has ~80
        # headers): the same text as json.dumps(k) and json.dumps(v, ensure_ascii=False).
        parts = [f"{encode_basestring_ascii(k)}:{encode_basestring(v)}" for k, v in headers]
        if body:
            size = len(body.encode("utf-8"))
            parts.append(f'"Content-Length":"{size}"')
            parts.append(f'"_body":{json.dumps(body, ensure_ascii=False)}')
        inner = ("{" + ",".join(parts) + "}").encode("utf-8")
    elif fmt == "plain":
        text = "".join(f"{k}: {url_encode(v)}\n" for k, v in headers)
        if body:
            raw = body.encode("utf-8")
            inner = f"{text}Content-Length: {len(raw)}\n\n".encode() + raw
        else:
            inner = (text + "\n").encode("utf-8")
    else:
        raise ValueError(f"ESL event format must be json or plain, got {fmt!r}")
    head = f"Content-Length: {len(inner)}\nContent-Type: text/event-{fmt}\n\n"
    return head.encode() + inner


def encode_auth_request() -> bytes:
    """The greeting of an inbound connection."""
    return b"Content-Type: auth/request\n\n"


def encode_reply(text: str, *extra: tuple[str, str]) -> bytes:
    """A ``command/reply`` with ``Reply-Text`` (and e.g. ``Job-UUID``)."""
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_api_response(body: str) -> bytes:
    """An ``api/response``: Content-Type first, then Content-Length, then the body."""
    raw = body.encode("utf-8")
    return f"Content-Type: api/response\nContent-Length: {len(raw)}\n\n".encode() + raw


def encode_disconnect_notice(uuid: str = "") -> bytes:
    """The goodbye after ``exit`` or a failed auth (outbound: with the session uuid)."""
    raw = GOODBYE.encode()
    lines = ["Content-Type: text/disconnect-notice"]
    if uuid:
        lines += [f"Controlled-Session-UUID: {uuid}", "Content-Disposition: disconnect"]
    lines.append(f"Content-Length: {len(raw)}")
    return ("\n".join(lines) + "\n\n").encode() + raw


def encode_linger_notice(uuid: str, channel: str) -> bytes:
    """Outbound socket: the channel is gone, the socket lingers until ``exit``."""
    return (
        "Content-Type: text/disconnect-notice\n"
        f"Controlled-Session-UUID: {uuid}\n"
        "Content-Disposition: linger\n"
        f"Channel-Name: {channel}\n"
        "Linger-Time: -1\n"
        "Content-Length: 0\n\n"
    ).encode()


def encode_connect_reply(channel_data: Iterable[tuple[str, str]]) -> bytes:
    """Outbound ``connect`` reply: URL-encoded channel data, then the reply headers, no body."""
    lines = [f"{k}: {url_encode(v)}" for k, v in channel_data]
    lines += [
        "Content-Type: command/reply",
        f"Reply-Text: {url_encode('+OK' + chr(10))}",
        "Socket-Mode: async",
        "Control: full",
    ]
    return ("\n".join(lines) + "\n\n").encode("utf-8")
