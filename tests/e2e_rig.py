"""Campaign rigs for end-to-end tests: PostgreSQL, the simulated PBX and one real driver.

``rig_for("asterisk" | "freeswitch", db, agents=3, time_scale=40)`` gives an async context
manager wired over loopback sockets: AsteriskDriver over AMI with our FastAGI server, or
FreeSwitchDriver over inbound ESL with our outbound-socket server. Both rigs answer the same
small interface, so one test body runs against either PBX.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from dialer_core.campaign.agent_book import RunnerStats
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.config import CampaignConfig, parse_campaign
from dialer_core.campaign.launch import Launcher
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import ScaledClock, next_local_time
from dialer_core.compliance.dnc import DncList
from dialer_core.demo_data import demo_cases_csv
from dialer_core.face.pbx_link import OutboundAnsweredServer
from dialer_core.face.service import AnsweredCallServer, run_campaign
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from pbx.asterisk.driver import AsteriskDriver
from pbx.freeswitch.client import EslClient
from pbx.freeswitch.driver import FreeSwitchDriver
from pbx.sim import AgentConfig, CalleeConfig, SimConfig, SimPbx
from pbx.sim.admin import AdminConfig
from pbx.sim.esl_pbx import SimEsl

__all__ = [
    "PBX_KINDS",
    "AsteriskLink",
    "START_ZONE",
    "AsteriskRig",
    "FreeSwitchRig",
    "Rig",
    "attempts_of",
    "campaign_doc",
    "asterisk_on_sim",
    "import_campaign",
    "launcher_for",
    "rig_for",
    "sim_ami_driver",
]

START_ZONE = "Asia/Shanghai"  # the demo cases are +86 numbers: run inside their window
PBX_KINDS = ("asterisk", "freeswitch")
AMI_CONTEXT = "pacedial-answered"
ESL_EXTENSION = "dialer-answered"


def campaign_doc(name: str, **pacing) -> dict:
    """A progressive campaign document for the demo cases; ``pacing`` keys override."""
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.5, **pacing},
        "dialing": {"caller_id": "+862088880000", "ring_timeout": 20, "max_in_flight": 40},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {
            "preset": "cn",
            "caps": {"phone_day": 20},
            "redial": {"busy": {"delay": "10m"}, "congestion": {"delay": "2m"}},
        },
        "recording": {"enabled": True},
    }


async def attempts_of(db, cid: int) -> list:
    """Every attempt row of campaign ``cid`` (with ``cid`` = call id text and the phone's e164)."""
    async with db.acquire() as conn:
        return await conn.fetch(
            "SELECT a.*, a.call_id::text AS cid, p.e164 FROM attempts a "
            "JOIN phones p ON p.id = a.phone_id WHERE campaign_id = $1 ORDER BY created_at",
            cid,
        )


async def import_campaign(
    db, doc: dict, csv: bytes, default_country: str | None = None
) -> tuple[int, CampaignConfig]:
    """Create the campaign of ``doc`` and import the cases of ``csv`` (which must parse clean);
    its id and parsed config."""
    name = doc["campaign"]["name"]
    campaign = parse_campaign(doc, f"{name}.toml")
    parsed = (
        parse_cases_csv(csv, default_country=default_country)
        if default_country
        else parse_cases_csv(csv)
    )
    assert parsed.errors == (), parsed.errors
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
        await import_cases(conn, cid, parsed.rows, parsed.errors, name)
    return cid, campaign


def launcher_for(db, campaign: CampaignConfig, cid: int, runner_id: str) -> Launcher:
    """A launch round's worker for ``campaign`` (no DNC entries, never paused); its counters
    are ``launcher.stats``."""
    return Launcher(
        db, campaign, cid, runner_id, CallerIdBook(campaign.callerid, campaign.caller_id),
        RunnerStats(), dnc=DncList, paused=lambda: False,
    )  # fmt: skip


@dataclass
class AsteriskLink:
    """A simulated Asterisk, our FastAGI server and connected AMI drivers, on one clock."""

    sim: SimPbx
    answered: AnsweredCallServer
    drivers: list[AsteriskDriver]

    @property
    def driver(self) -> AsteriskDriver:
        return self.drivers[0]


def sim_ami_driver(sim: SimPbx, context: str, clock, **options) -> AsteriskDriver:
    """An AsteriskDriver for the simulated Asterisk ``sim`` (not yet connected): its AMI user,
    calls dialed through ``sim-callee``, answered calls sent to ``context``."""
    return AsteriskDriver(
        host="127.0.0.1",
        port=sim.ami_port,
        username="pacedial",
        secret="pacedial",
        dial_template="Local/{number}@sim-callee",
        answered_context=context,
        clock=clock,
        **options,
    )


@contextlib.asynccontextmanager
async def asterisk_on_sim(
    clock,
    *,
    seed: int,
    callees: CalleeConfig,
    agents: AgentConfig,
    drivers: int = 1,
    answered_port: int = 0,
) -> AsyncIterator[AsteriskLink]:
    """The answered-call server, the simulated PBX on ``clock`` (its scale is the PBX's) and
    ``drivers`` AsteriskDrivers logged in over AMI (each its own link); all closed after."""
    answered = await AnsweredCallServer.start("127.0.0.1", answered_port)
    sim = SimPbx(
        SimConfig(
            seed=seed,
            time_scale=clock.scale,
            dialplan={AMI_CONTEXT: f"agi://127.0.0.1:{answered.server.port}/router"},
            callees=callees,
            agents=agents,
        ),
        clock=clock,
    )
    links: list[AsteriskDriver] = []
    try:
        await sim.start()
        for _ in range(drivers):
            driver = sim_ami_driver(sim, AMI_CONTEXT, clock)
            links.append(driver)
            await driver.connect()
        yield AsteriskLink(sim, answered, links)
    finally:
        for driver in links:
            await driver.close()
        await sim.close()
        await answered.close()


class Rig(ABC):
    """Everything a campaign needs, wired over loopback; subclasses bring the PBX's side."""

    kind: ClassVar[str]
    driver: AsteriskDriver | FreeSwitchDriver
    answered: AnsweredCallServer | OutboundAnsweredServer
    sim: SimPbx

    def __init__(
        self,
        db,
        agents: int,
        time_scale: float,
        seed: int = 5,
        recordings_dir: str = "",
        agent_talk: float = 60.0,
        wrapuptime: float = 10.0,
        phantom: int = 0,
        admin: AdminConfig | None = None,
        callees: CalleeConfig | None = None,
    ) -> None:
        self.db, self.agents, self.time_scale, self.seed = db, agents, time_scale, seed
        self.recordings_dir = recordings_dir
        self.agent_talk = agent_talk  # simulated seconds an agent's conversation lasts (mean)
        self.wrapuptime = wrapuptime  # the queue's wrapuptime / wrap-up-time (simulated s)
        self.phantom = phantom  # of the agents, reported free but never picking up
        self.admin = admin or AdminConfig()  # what the PBX has loaded (modules, sounds)
        self.callees = callees or CalleeConfig()  # who answers, and how

    async def __aenter__(self) -> Rig:
        # Simulated time, inside the callees' calling window, as fast as the simulated PBX.
        self.clock = ScaledClock(next_local_time(10, START_ZONE, time.time()), self.time_scale)
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @abstractmethod
    async def start(self) -> None:
        """Start the answered-call server, the simulated PBX and the connected driver."""

    @abstractmethod
    async def stop(self) -> None:
        """Close the driver, the simulated PBX and the answered-call server."""

    @property
    @abstractmethod
    def originates_received(self) -> list[str]:
        """The call id of every originate the PBX received, in order."""

    @property
    @abstractmethod
    def reconnects(self) -> int:
        """How often the driver's link came back after the first login."""

    @property
    @abstractmethod
    def recordings(self) -> list[str]:
        """The file name of every recording the PBX was asked to start, in order."""

    @abstractmethod
    async def cut_link(self) -> None:
        """Cut the driver's control socket abruptly on the PBX side; calls keep running."""

    @abstractmethod
    def cut_answered_links(self) -> int:
        """Cut every answered-call socket (FastAGI / outbound ESL) abruptly on the PBX side,
        as a crash does; the calls keep running. How many were cut."""

    async def stop_answered(self) -> None:
        """pacedial's answered-call server goes away (pacedial down): the PBX's dialplan
        fallback takes the answered calls."""
        await self.answered.close()

    @property
    def registry(self):
        """The answered-call handler registry the campaign runner registers its calls in."""
        return self.answered.registry

    def sim_config(self, dialplan: dict[str, str] | None = None) -> SimConfig:
        """The simulated PBX's configuration for this rig (same callees for every PBX)."""
        return SimConfig(
            seed=self.seed,
            time_scale=self.time_scale,
            dialplan=dialplan or {},
            agents=AgentConfig(
                count=self.agents,
                talk_mean=self.agent_talk,
                wrapuptime=self.wrapuptime,
                phantom=self.phantom,
            ),
            recordings_dir=self.recordings_dir,
            admin=self.admin,
            callees=self.callees,
        )

    async def seed_cases(self, name: str, cases: int) -> tuple[int, CampaignConfig]:
        """Create campaign ``name`` with ``cases`` demo cases; its id and parsed config."""
        campaign = parse_campaign(campaign_doc(name), "test campaign")
        parsed = parse_cases_csv(demo_cases_csv(cases, seed=11))
        async with self.db.acquire() as conn:
            cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
            await import_cases(conn, cid, parsed.rows, parsed.errors, "demo")
        return cid, campaign

    async def run_for(
        self,
        campaign: CampaignConfig,
        seconds: float,
        during: Callable[[list[CampaignRunner]], Awaitable[None]] | None = None,
    ) -> CampaignRunner:
        """Run ``campaign`` for ``seconds`` real seconds, then stop it and wait for its end."""
        stop = asyncio.Event()
        holder: list[CampaignRunner] = []
        task = asyncio.create_task(
            run_campaign(
                self.db, self.driver, campaign, self.registry, stop, holder, clock=self.clock
            )
        )
        if during is not None:
            await during(holder)
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 60)
        return holder[0]


class AsteriskRig(Rig):
    """AsteriskDriver over AMI; answered calls run AGI(agi://…/router) on our FastAGI server."""

    kind = "asterisk"
    driver: AsteriskDriver
    answered: AnsweredCallServer

    async def start(self) -> None:
        self.answered = await AnsweredCallServer.start("127.0.0.1", 0)
        agi = f"agi://127.0.0.1:{self.answered.server.port}/router"
        self.sim = SimPbx(self.sim_config({AMI_CONTEXT: agi}), clock=self.clock)
        await self.sim.start()
        self.driver = sim_ami_driver(self.sim, AMI_CONTEXT, self.clock, wrapup_tick=0.02)
        await self.driver.connect()

    async def stop(self) -> None:
        await self.driver.close()
        await self.sim.close()
        await self.answered.close()

    @property
    def originates_received(self) -> list[str]:
        return self.sim.originates_received

    @property
    def reconnects(self) -> int:
        return self.driver.client.reconnects

    @property
    def recordings(self) -> list[str]:
        # MixMonitor log lines are "<uniqueid> <file>".
        return [entry.partition(" ")[2] for entry in self.sim.mixmonitor_log]

    async def cut_link(self) -> None:
        await self.sim.drop_ami_connections()

    def cut_answered_links(self) -> int:
        return self.sim.drop_agi_connections()


class FreeSwitchRig(Rig):
    """FreeSwitchDriver over inbound ESL; answered calls reach our outbound-socket server.

    The 2-second agent rule is timed by the dialer here (EslSession.enqueue waits what is left
    of ``agent_wait`` in the simulated PBX's seconds, then sends the exit key), not by the PBX
    as with app_queue.
    """

    kind = "freeswitch"
    driver: FreeSwitchDriver
    answered: OutboundAnsweredServer

    async def start(self) -> None:
        self.answered = await OutboundAnsweredServer.start(
            "127.0.0.1", 0, time_scale=self.time_scale
        )
        self.sim = SimPbx(self.sim_config(), clock=self.clock)
        await self.sim.start()
        socket = f"socket 127.0.0.1:{self.answered.server.port} async full"
        self.esl = SimEsl(self.sim, dialplan={ESL_EXTENSION: socket})
        await self.esl.start()
        client = EslClient("127.0.0.1", self.esl.port, "ClueCon", backoff_initial=0.2, seed=1)
        self.driver = FreeSwitchDriver(
            client,
            dial_template="loopback/{number}/sim-callee",
            target=f"{ESL_EXTENSION} XML dialer",
            queues=("collectors",),
            wall_clock=self.clock,
            wrapup_tick=0.02,
        )
        await self.driver.connect()

    async def stop(self) -> None:
        await self.driver.close()
        await self.esl.close()
        await self.sim.close()
        await self.answered.close()

    @property
    def originates_received(self) -> list[str]:
        return self.esl.originates_received

    @property
    def reconnects(self) -> int:
        return self.driver.client.connects - 1

    @property
    def recordings(self) -> list[str]:
        return [path for leg in self.esl.legs for path in leg.recordings]

    async def cut_link(self) -> None:
        await self.esl.drop_connections()

    def cut_answered_links(self) -> int:
        return self.esl.drop_outbound_connections()


RIGS: dict[str, type[Rig]] = {rig.kind: rig for rig in (AsteriskRig, FreeSwitchRig)}


def rig_for(pbx: str, db, **options) -> Rig:
    """The rig for ``pbx`` (one of :data:`PBX_KINDS`); ``options`` go to :class:`Rig`."""
    return RIGS[pbx](db, **options)
