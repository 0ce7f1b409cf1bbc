"""Prometheus ``/metrics`` in the text exposition format (written by hand, no dependency).

Counters come from this process's runners; rates and abandon ratios from the same live
snapshots the dashboard streams (summed in PostgreSQL, so they cover every node); the PBX link
is probed with an AMI ``Ping`` / ESL ``api status`` (bounded by 1 s) at each scrape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiohttp import web

from dialer_core.api.context import ApiContext, ctx_of
from dialer_core.api.table import READ, Route
from dialer_core.campaign.manager import CampaignNotFound
from dialer_core.store.database import ping

PROBE_TIMEOUT = 1.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


class Exposition:
    """Collects samples grouped by metric family, each with one HELP and TYPE line."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_: str, value: float, **labels: str) -> None:
        family = self._families.setdefault(name, (kind, help_, []))
        family[2].append(f"{name}{_labels(labels)} {_number(value)}")

    def declare(self, name: str, kind: str, help_: str) -> None:
        self._families.setdefault(name, (kind, help_, []))

    def render(self) -> str:
        out: list[str] = []
        for name, (kind, help_, samples) in self._families.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(out) + "\n"


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


async def _probe_link(driver: object) -> tuple[str, str, float | None]:
    """(peer, link state, round-trip seconds or None) of the driver's PBX connection."""
    client = getattr(driver, "client", None)
    if client is None:
        return "", "unknown", None
    peer = str(getattr(client, "peer", ""))
    if hasattr(client, "link_state"):
        state = str(client.link_state)
        probe = (lambda: client.send_action([("Action", "Ping")])) if state == "connected" else None
    else:
        state = "connected" if getattr(client, "connected", False) else "disconnected"
        probe = (lambda: client.api("status")) if state == "connected" else None
    if probe is None:
        return peer, state, None
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT)
    except Exception:  # a failed probe is reported as no latency, the state says why
        return peer, state, None
    return peer, state, time.perf_counter() - started


async def collect(ctx: ApiContext) -> Exposition:
    """Every metric, from the runners, the live snapshots, the PBX link and the database."""
    ex = Exposition()
    ex.declare("pacedial_calls_total", "counter", "Calls ended by this process, by result")
    for name, rc in sorted(ctx.manager.running.items()):
        st = rc.stats
        for result, n in sorted(st.dispositions.items()):
            ex.add("pacedial_calls_total", "counter", "", n, campaign=name, result=result)
        ex.add(
            "pacedial_calls_launched_total",
            "counter",
            "Calls launched by this process",
            st.launched,
            campaign=name,
        )
        ex.add(
            "pacedial_calls_in_flight",
            "gauge",
            "Calls launched and not ended",
            rc.in_flight,
            campaign=name,
        )
        ex.add(
            "pacedial_campaign_running",
            "gauge",
            "1 when dialing, 0 when paused or stopped",
            rc.state == "running",
            campaign=name,
        )
        pending = rc.pending_results
        ex.add(
            "pacedial_db_pending_results",
            "gauge",
            "Call results held in memory because the database write failed (write lag)",
            pending,
            campaign=name,
        )
        try:
            snap = await ctx.live.snapshot(name)
        except CampaignNotFound:
            continue
        ex.add(
            "pacedial_dial_rate_per_minute",
            "gauge",
            "Attempts created in the last minute",
            snap.dial_rate_per_min,
            campaign=name,
        )
        ex.add(
            "pacedial_connects_per_minute",
            "gauge",
            "Calls connected to an agent, last minute",
            snap.connects_per_min,
            campaign=name,
        )
        ex.add(
            "pacedial_abandon_target_ratio",
            "gauge",
            "The campaign's abandon-rate target",
            snap.target_abandon_rate,
            campaign=name,
        )
        for w in snap.windows:
            if w.rate is not None:
                ex.add(
                    "pacedial_abandon_ratio",
                    "gauge",
                    "abandoned / (connected + abandoned) over a rolling window",
                    w.rate,
                    campaign=name,
                    window=w.label,
                )
        for status, n in sorted(snap.agent_counts.items()):
            ex.add("pacedial_agents", "gauge", "Agents by state", n, campaign=name, state=status)
    peer, state, rtt = await _probe_link(ctx.manager.driver)
    ex.add(
        "pacedial_pbx_link_up",
        "gauge",
        "1 when the AMI / ESL link is connected",
        state == "connected",
        peer=peer,
    )
    ex.add(
        "pacedial_pbx_link_state",
        "gauge",
        "The AMI / ESL link state (value 1)",
        1,
        peer=peer,
        state=state,
    )
    if rtt is not None:
        ex.add(
            "pacedial_pbx_ping_seconds",
            "gauge",
            "Round trip of an AMI Ping / ESL status",
            rtt,
            peer=peer,
        )
    started = time.perf_counter()
    async with ctx.pool.acquire() as conn:
        await ping(conn)
    ex.add(
        "pacedial_db_roundtrip_seconds",
        "gauge",
        "Round trip of a trivial query",
        time.perf_counter() - started,
    )
    return ex


async def metrics(request: web.Request) -> web.Response:
    ex = await collect(ctx_of(request))
    return web.Response(
        text=ex.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


def routes() -> list[Route]:
    return [
        Route(
            "GET", "/metrics", metrics, READ, "Prometheus metrics", "metrics", produces="text/plain"
        )
    ]


def families(text: str) -> Iterable[str]:
    """Metric family names declared in an exposition (for tests and checks)."""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            yield line.split()[2]
