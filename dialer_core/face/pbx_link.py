"""The link to the site's PBX: its driver and its answered-call server, for either PBX kind.

``pacedial run``, ``pacedial serve`` and the demo build both from a site config, so nothing
above this module knows whether Asterisk (AMI + FastAGI) or FreeSWITCH (inbound ESL +
outbound socket) is on the other end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agi_scripts.answered import make_answered_handler
from agi_scripts.registry import CallRegistry
from dialer_core.face.service import AnsweredCallServer
from dialer_core.face.site import SiteConfig
from pbx.asterisk.driver import AsteriskDriver
from pbx.driver import PbxDriver
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
        cls, host: str = "127.0.0.1", port: int = 0, gate: PeerGate | None = None
    ) -> OutboundAnsweredServer:
        """Listen on ``host:port`` (0: any free port, read back from ``server.port``)."""
        registry = CallRegistry()
        server = OutboundServer(make_answered_handler(registry), host, port, gate=gate)
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
        clock=clock or time.monotonic,
    )


async def start_answered_server(site: SiteConfig) -> AnsweredCallServer | OutboundAnsweredServer:
    """Start the site's answered-call server: ``[fastagi]`` or ``[freeswitch] outbound_*``."""
    if site.pbx == "freeswitch":
        fs = site.freeswitch
        peers = [*fs.outbound_allowed_peers, *await _addresses(fs.host)]
        gate = PeerGate.build(peers, fs.outbound_max_connections)
        return await OutboundAnsweredServer.start(fs.outbound_host, fs.outbound_port, gate)
    peers = [*site.fastagi_allowed_peers, *await _addresses(site.asterisk.host)]
    gate = PeerGate.build(peers, site.fastagi_max_connections)
    return await AnsweredCallServer.start(site.fastagi_host, site.fastagi_port, gate)


async def _addresses(host: str) -> list[str]:
    """The PBX host's IP addresses (it connects back to us for answered calls)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as exc:
        log.warning("cannot resolve PBX host %s for the answered-call allow-list: %s", host, exc)
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
