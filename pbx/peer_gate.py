"""Who may connect to our answered-call servers (FastAGI, the ESL outbound socket), and how many.

Neither protocol authenticates: whoever reaches the port can drive a call handler. So both
servers bind loopback by default and admit only peers from an allow-list of PBX addresses
(loopback by default), up to a cap on connections open at once. A refused peer is closed at
once, before a byte is read, so a flood costs a socket each, not a session.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1")
DEFAULT_MAX_CONNECTIONS = 512  # one per answered call in progress


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Addresses or CIDR blocks (``10.0.0.5``, ``10.0.0.0/24``, ``::1``); ValueError names a bad
    one."""
    out: list[IpNetwork] = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR block: {entry!r}") from None
    return tuple(out)


@dataclass(frozen=True)
class PeerGate:
    """The allow-list and the connection cap of one listening server."""

    networks: tuple[IpNetwork, ...] = parse_networks(LOOPBACK)
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @classmethod
    def build(
        cls, peers: Iterable[str] = (), max_connections: int = DEFAULT_MAX_CONNECTIONS
    ) -> PeerGate:
        """Loopback plus ``peers``; ValueError for a bad entry or a cap below 1."""
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        return cls(parse_networks([*LOOPBACK, *peers]), max_connections)

    def allows(self, host: str) -> bool:
        """True when ``host`` (a peer IP address, IPv4-mapped IPv6 included) is listed."""
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)

    def refusal(self, peername: object, active: int) -> str:
        """Why a new connection from ``peername`` (asyncio's tuple) is refused, or "" if not.

        ``active`` is the number of connections already being served.
        """
        host = peername[0] if isinstance(peername, tuple) and peername else ""
        if not isinstance(host, str) or not self.allows(host):
            return f"peer {host or peername!r} is not in the allow-list"
        if active >= self.max_connections:
            return f"{active} connections open (the cap is {self.max_connections})"
        return ""
