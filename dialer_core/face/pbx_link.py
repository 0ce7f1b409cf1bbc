"""The link to the site's PBX: its driver and its answered-call server, for either PBX kind.

``pacedial run``, ``pacedial serve`` and the demo build both from a site config, so nothing
above this module knows whether Asterisk (AMI + FastAGI) or FreeSWITCH (inbound ESL +
outbound socket) is on the other end.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agi_scripts.answered import make_answered_handler
from agi_scripts.registry import CallRegistry
from dialer_core.face.service import AnsweredCallServer
from dialer_core.face.site import SiteConfig
from dialer_core.operator_errors import OperatorError, PbxLoginRefused, PbxUnreachable, PortInUse
from pbx.asterisk.client import AmiError, AmiLoginError
from pbx.asterisk.driver import AsteriskDriver
from pbx.driver import PbxDriver
from pbx.freeswitch.client import EslAuthError, EslError
from pbx.freeswitch.driver import FreeSwitchDriver
from pbx.freeswitch.outbound import OutboundServer
from pbx.peer_gate import PeerGate

log = logging.getLogger(__name__)


@dataclass
class OutboundAnsweredServer:
    """The outbound-ESL counterpart of AnsweredCallServer: FreeSWITCH connects here per call."""

    registry: CallRegistry
    server: OutboundServer

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        gate: PeerGate | None = None,
        time_scale: float = 1.0,
        recordings_dir: str = "",
    ) -> OutboundAnsweredServer:
        """Listen on ``host:port`` (0: any free port, read back from ``server.port``);
        ``time_scale``: a simulated FreeSWITCH's speed-up, so the queue deadline the dialer
        times itself is in the PBX's seconds; ``recordings_dir``: see EslSession."""
        registry = CallRegistry()
        handler = make_answered_handler(registry)
        server = OutboundServer(
            handler, host, port, gate=gate, time_scale=time_scale, recordings_dir=recordings_dir
        )
        await server.start()
        return cls(registry, server)

    async def close(self) -> None:
        await self.server.close()


def describe(site: SiteConfig) -> str:
    """``Asterisk 10.0.0.5:5038`` / ``FreeSWITCH 127.0.0.1:8021``, for log lines."""
    if site.pbx == "freeswitch":
        return f"FreeSWITCH {site.freeswitch.host}:{site.freeswitch.port}"
    return f"Asterisk {site.asterisk.host}:{site.asterisk.port}"


def build_driver(
    site: SiteConfig,
    *,
    queues: Iterable[str] = (),
    clock: Callable[[], float] | None = None,
) -> PbxDriver:
    """The site's PBX driver (not connected yet).

    ``queues`` adds agent queues to follow (FreeSWITCH: mod_callcenter queues, merged with
    ``[freeswitch] queues``). ``clock`` is the Asterisk tracker's clock (queue-wait timing;
    the demo passes its simulated clock); FreeSWITCH reports those times itself.
    """
    if site.pbx == "freeswitch":
        fs = site.freeswitch
        return FreeSwitchDriver(
            host=fs.host,
            port=fs.port,
            password=fs.password,
            dial_template=fs.dial_template,
            target=fs.target,
            queues=tuple(dict.fromkeys([*fs.queues, *queues])),
        )
    ast = site.asterisk
    return AsteriskDriver(
        host=ast.host,
        port=ast.port,
        username=ast.username,
        secret=ast.secret,
        dial_template=ast.dial_template,
        answered_context=ast.answered_context,
        clock=clock or time.time,
    )


async def start_answered_server(
    site: SiteConfig, time_scale: float = 1.0
) -> AnsweredCallServer | OutboundAnsweredServer:
    """Start the site's answered-call server: ``[fastagi]`` or ``[freeswitch] outbound_*``
    (``time_scale``: a simulated FreeSWITCH's speed-up, see OutboundAnsweredServer.start).

    A taken port is PortInUse naming the site key to change."""
    if site.pbx == "freeswitch":
        fs = site.freeswitch
        where = f"[freeswitch] outbound_port {fs.outbound_host}:{fs.outbound_port}"
        peers = [*fs.outbound_allowed_peers, *await _addresses(fs.host)]
        gate = PeerGate.build(peers, fs.outbound_max_connections)
        start = OutboundAnsweredServer.start(
            fs.outbound_host, fs.outbound_port, gate, time_scale, fs.recordings_dir
        )
    else:
        where = f"[fastagi] port {site.fastagi_host}:{site.fastagi_port}"
        peers = [*site.fastagi_allowed_peers, *await _addresses(site.asterisk.host)]
        gate = PeerGate.build(peers, site.fastagi_max_connections)
        start = AnsweredCallServer.start(site.fastagi_host, site.fastagi_port, gate)
    try:
        return await start
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise port_in_use(where) from exc


def port_in_use(where: str) -> PortInUse:
    """The error for a listening port another process holds."""
    return PortInUse(
        "port already in use",
        where,
        "stop the other process on it (another pacedial run/serve?) or change the port",
    )


async def connect_driver(site: SiteConfig, driver: PbxDriver) -> None:
    """Connect and log in; failures are PbxUnreachable / PbxLoginRefused naming what to fix."""
    kind = "FreeSWITCH" if site.pbx == "freeswitch" else "Asterisk"
    section = "[freeswitch]" if site.pbx == "freeswitch" else "[asterisk]"
    try:
        await driver.connect()
    except (AmiLoginError, EslAuthError) as exc:
        secret = (
            "password (or PACEDIAL_ESL_PASSWORD) and the ESL acl"
            if (site.pbx == "freeswitch")
            else "username and secret (or PACEDIAL_AMI_SECRET)"
        )
        raise PbxLoginRefused(
            f"{kind} refused the login ({_reason(exc)})",
            describe(site),
            f"check {section} {secret} against the PBX's "
            + ("event_socket.conf.xml" if site.pbx == "freeswitch" else "manager.conf"),
        ) from exc
    except (OSError, TimeoutError, AmiError, EslError) as exc:
        port = "ESL (event_socket)" if site.pbx == "freeswitch" else "AMI (manager.conf)"
        raise PbxUnreachable(
            "cannot reach the PBX",
            f"{describe(site)} ({_reason(exc)})",
            f"check {section} host and port in the site file and that {kind} runs with "
            f"{port} enabled and reachable from here",
        ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).split(": ", 1)[-1] or type(exc).__name__


class PbxLink:
    """The site's PBX link as ``serve`` shows it; connects in the background until it is up.

    Once logged in, the driver's own client reconnects after any outage; ``status()`` reads
    the live state either way."""

    def __init__(self, site: SiteConfig, driver: PbxDriver, *, max_backoff: float = 30.0):
        self.site, self.driver, self.max_backoff = site, driver, max_backoff
        self.error = ""
        self.connected_once = False

    def status(self) -> dict[str, str]:
        """``{"pbx": "Asterisk host:port", "link": "up" | "down", "error": last failure}``."""
        up = self.driver.ready
        return {
            "pbx": describe(self.site),
            "link": "up" if up else "down",
            "error": "" if up else self.error,
        }

    async def keep_connecting(self, out: Callable[[str], None] = print) -> None:
        """Try to connect, with backoff, until the first login succeeds; say each new failure."""
        delay = 1.0
        while True:
            try:
                await connect_driver(self.site, self.driver)
            except OperatorError as exc:
                if str(exc) != self.error:
                    out(f"PBX link down: {exc} (retrying every ≤ {self.max_backoff:.0f} s)")
                self.error = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            self.connected_once, self.error = True, ""
            out(f"PBX link up: {describe(self.site)}")
            return


async def _addresses(host: str) -> list[str]:
    """The PBX host's IP addresses (it connects back to us for answered calls)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as exc:
        log.warning("cannot resolve PBX host %s for the answered-call allow-list: %s", host, exc)
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
