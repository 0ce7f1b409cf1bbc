"""``pacedial pbx check``: the live PBX against what the site and its campaigns need.

A checklist, one line per item, each failure with its fix: the login; the PBX fully booted;
the modules we use; the answered-call context (Asterisk); each campaign's queue and its wrap-up
time; the clock difference between the PBX and this host; and on this host the directories
the PBX shares with us (sounds with the drop message, recordings). Then the probe call
(pbx_probe): the PBX connects to our FastAGI / outbound-socket port through the answered-call
dialplan and plays each drop message and machine message the campaigns use. A failed login
stops the PBX items (they are reported as not checked).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dialer_core.campaign.config import CampaignConfig
from dialer_core.face.pbx_link import describe
from dialer_core.face.pbx_probe import (
    PROBE_ITEM,
    SOUNDS_ITEM,
    ProbeResult,
    probe_asterisk,
    probe_freeswitch,
    probe_sounds,
)
from dialer_core.face.site import SiteConfig
from dialer_core.operator_errors import OperatorError, PbxLoginRefused, PbxUnreachable
from pbx.asterisk.client import AmiClient, AmiError, AmiLoginError
from pbx.freeswitch.client import EslAuthError, EslClient, EslError

MAX_SKEW = 2.0  # seconds; calling windows and the 2-second rule are judged on our clock
ASTERISK_MODULES = ("app_queue", "res_agi", "app_mixmonitor")
FREESWITCH_MODULES = ("mod_event_socket", "mod_callcenter", "mod_sndfile", "mod_dptools")


@dataclass(frozen=True)
class Check:
    """One checklist line: what, whether it passed, what was seen, and the fix if not."""

    item: str
    ok: bool | None  # None: not checked (an earlier failure prevents it)
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "--  "}[self.ok]
        text = f"[{mark}] {self.item}" + (f": {self.detail}" if self.detail else "")
        return text + (f"\n       fix: {self.fix}" if self.ok is False and self.fix else "")


@dataclass(frozen=True)
class CheckInput:
    site: SiteConfig
    campaigns: tuple[CampaignConfig, ...]
    sound_dir: Path | None  # the PBX's sound directory as this host sees it (optional)


def _queues(inp: CheckInput) -> list[str]:
    return list(dict.fromkeys(c.queue for c in inp.campaigns)) or ["collectors"]


def _skew(pbx_epoch: float, before: float, after: float) -> Check:
    skew = pbx_epoch - (before + after) / 2
    return Check(
        "clock",
        abs(skew) <= MAX_SKEW,
        f"PBX is {skew:+.1f} s from this host",
        "synchronise both hosts with NTP (chrony); windows and the 2-second rule use our clock",
    )


def _local_checks(inp: CheckInput) -> list[Check]:
    """Directories shared with the PBX, seen from this host."""
    out: list[Check] = []
    prompts = sorted({c.compliance.abandon.prompt for c in inp.campaigns} or {"safe-harbor"})
    if inp.sound_dir is None:
        out.append(Check("drop message sound", None, "no --sounds DIR given"))
    else:
        missing = [f"{p}.wav" for p in prompts if not (inp.sound_dir / f"{p}.wav").is_file()]
        seen = f"missing {', '.join(missing)}" if missing else "found"
        out.append(
            Check(
                "drop message sound",
                not missing,
                f"{inp.sound_dir}: {seen}",
                "pacedial pbx render --site SITE --out DIR, then copy DIR/sounds/ into the PBX's "
                "sound directory",
            )
        )
    rec = inp.site.recordings_dir
    if rec is None:
        out.append(Check("recordings directory", None, "[api] recordings_dir not set"))
    else:
        readable = rec.is_dir() and os.access(rec, os.R_OK | os.X_OK)
        out.append(
            Check(
                "recordings directory",
                readable,
                f"{rec} " + ("readable" if readable else "missing or not readable"),
                "mount the PBX's recording folder here (read-only is enough) and set "
                "[api] recordings_dir to it",
            )
        )
    return out


def _not_checked(items: Sequence[str]) -> list[Check]:
    return [Check(item, None, "not checked: no login") for item in items]


async def check_asterisk(inp: CheckInput) -> list[Check]:
    """The Asterisk items over AMI (ModuleCheck, ShowDialPlan, QueueStatus, GetConfig, Ping)."""
    ast = inp.site.asterisk
    queues = _queues(inp)
    later = ["fully booted", "modules", f"context {ast.answered_context}"]
    later += [f"queue {q}" for q in queues] + [f"queue {q} wrap-up" for q in queues]
    later += [PROBE_ITEM, SOUNDS_ITEM, "clock"]
    client = AmiClient(ast.host, ast.port, ast.username, ast.secret, connect_timeout=5)
    try:
        await client.connect()
    except (OSError, TimeoutError, AmiError) as exc:
        return [_login_failure(inp.site, exc), *_not_checked(later), *_local_checks(inp)]
    try:
        out = [Check("login", True, f"{describe(inp.site)} as {ast.username}")]
        out.append(await _fully_booted(client))
        out.append(await _ami_modules(client))
        out.append(await _ami_context(client, ast.answered_context))
        for q in queues:
            out += await _ami_queue(client, q)
        probe = await probe_asterisk(client, inp.site, probe_sounds(inp.campaigns))
        out += _probe_checks(probe, inp.site)
        before = time.time()
        pong = await client.send_action([("Action", "Ping")])
        out.append(_skew(float(pong.get("Timestamp") or 0), before, time.time()))
    finally:
        await client.close()
    return out + _local_checks(inp)


def _login_failure(site: SiteConfig, exc: BaseException) -> Check:
    refused = isinstance(exc, AmiLoginError | EslAuthError)
    err: OperatorError
    if refused:
        err = PbxLoginRefused("login refused", str(exc), "")
    else:
        err = PbxUnreachable("unreachable", f"{exc}", "")
    section = "[freeswitch]" if site.pbx == "freeswitch" else "[asterisk]"
    fix = (
        f"check {section} credentials against the PBX (pacedial pbx render shows the user to add)"
        if refused
        else f"check {section} host/port and that the PBX listens there for this host"
    )
    return Check("login", False, f"{describe(site)}: {err.where or err.what}", fix)


async def _fully_booted(client: AmiClient) -> Check:
    """Asterisk sends FullyBooted right after a login once it has finished starting."""
    fix = "wait until Asterisk has started (asterisk -rx 'core waitfullybooted'), check again"

    async def booted() -> bool:
        async for event in client.events():
            if event.event == "FullyBooted":
                return True
        return False

    try:
        seen = await asyncio.wait_for(booted(), 3)
    except TimeoutError:
        seen = False
    return Check("fully booted", seen, "FullyBooted" if seen else "no FullyBooted event", fix)


async def _ami_modules(client: AmiClient) -> Check:
    missing = []
    for module in ASTERISK_MODULES:
        reply = await client.send_action([("Action", "ModuleCheck"), ("Module", module)])
        if reply.response != "Success":
            missing.append(module)
    return Check(
        "modules",
        not missing,
        "missing " + ", ".join(missing) if missing else ", ".join(ASTERISK_MODULES),
        "load them: asterisk -rx 'module load MODULE.so' (and keep them in modules.conf)",
    )


async def _ami_context(client: AmiClient, context: str) -> Check:
    fix = (
        "add extensions.d/pacedial.conf from `pacedial pbx render` and run "
        "asterisk -rx 'dialplan reload'"
    )
    try:
        await client.send_action_list(
            [("Action", "ShowDialPlan"), ("Context", context)], complete="ShowDialPlanComplete"
        )
    except AmiError as exc:
        return Check(f"context {context}", False, str(exc).split(": ")[-1], fix)
    return Check(f"context {context}", True, "found")


async def _ami_queue(client: AmiClient, queue: str) -> list[Check]:
    events = await client.send_action_list(
        [("Action", "QueueStatus"), ("Queue", queue)], complete="QueueStatusComplete"
    )
    exists = any(e.event == "QueueParams" and e.get("Queue") == queue for e in events)
    found = Check(
        f"queue {queue}",
        exists,
        "found" if exists else "no such queue",
        "add queues.d/pacedial.conf from `pacedial pbx render`; asterisk -rx 'queue reload all'",
    )
    reply = await client.send_action(
        [("Action", "GetConfig"), ("Filename", "queues.conf"), ("Category", queue)]
    )
    wrapup = None
    if reply.response == "Success":
        for key, value in reply.headers:
            if key.startswith("Line-") and value.startswith("wrapuptime="):
                wrapup = value.partition("=")[2]
    return [
        found,
        Check(
            f"queue {queue} wrap-up",
            wrapup is not None,
            f"wrapuptime = {wrapup} s" if wrapup is not None else "no wrapuptime in queues.conf",
            f"set wrapuptime in [{queue}] of queues.conf (pacedial frees an agent after it); "
            "the AMI user needs the config privilege",
        ),
    ]


async def check_freeswitch(inp: CheckInput) -> list[Check]:
    """The FreeSWITCH items over ESL (status, module_exists, callcenter_config, strepoch)."""
    fs = inp.site.freeswitch
    queues = _queues(inp)
    later = ["fully booted", "modules"] + [f"queue {q}" for q in queues]
    later += [PROBE_ITEM, SOUNDS_ITEM, "clock"]
    client = EslClient(fs.host, fs.port, fs.password, events=("HEARTBEAT",))
    try:
        await client.connect()
    except (OSError, TimeoutError, EslError) as exc:
        return [_login_failure(inp.site, exc), *_not_checked(later), *_local_checks(inp)]
    try:
        out = [Check("login", True, describe(inp.site))]
        status = await client.api("status")
        ready = "is ready" in status
        out.append(
            Check(
                "fully booted",
                ready,
                "ready" if ready else status.splitlines()[-1:][0] if status else "no status",
                "wait until FreeSWITCH has started (fs_cli -x status says 'is ready')",
            )
        )
        missing = [
            m
            for m in FREESWITCH_MODULES
            if (await client.api(f"module_exists {m}")).strip() != "true"
        ]
        out.append(
            Check(
                "modules",
                not missing,
                "missing " + ", ".join(missing) if missing else ", ".join(FREESWITCH_MODULES),
                "load them: fs_cli -x 'load MODULE' (and add them to modules.conf.xml)",
            )
        )
        listed = await client.api("callcenter_config queue list")
        for q in queues:
            name = q if "@" in q else f"{q}@default"
            exists = any(line.split("|", 1)[0] == name for line in listed.splitlines())
            out.append(
                Check(
                    f"queue {q}",
                    exists,
                    "found" if exists else "no such mod_callcenter queue",
                    "merge callcenter.pacedial.xml from `pacedial pbx render` into "
                    "callcenter.conf.xml; fs_cli -x 'callcenter_config queue load " + name + "'",
                )
            )
        probe = await probe_freeswitch(client, inp.site, probe_sounds(inp.campaigns))
        out += _probe_checks(probe, inp.site)
        before = time.time()
        epoch = (await client.api("strepoch")).strip()
        after = time.time()
        out.append(_skew(float(epoch) if epoch.isdigit() else 0.0, before, after))
    finally:
        await client.close()
    return out + _local_checks(inp)


def _probe_checks(probe: ProbeResult, site: SiteConfig) -> list[Check]:
    """The probe call's two lines: the PBX reached us; each sound opened and played."""
    if site.pbx == "freeswitch":
        fs = site.freeswitch
        exten, _, context = fs.target.partition(" XML ")
        reach = (
            f"extension {exten.strip()} (context {context.strip() or 'default'}) must run "
            f"socket <this host>:{fs.outbound_port} async full (dialplan/pacedial.xml from "
            "`pacedial pbx render --dialer-host ADDRESS`); let FreeSWITCH reach that port"
        )
        where = "the campaign's robot.pbx_sound_dir"
    else:
        reach = (
            f"context {site.asterisk.answered_context} must run AGI(agi://<this host>:"
            f"{site.fastagi_port}/router,...) (extensions.d/pacedial.conf from `pacedial pbx "
            "render --dialer-host ADDRESS`); let Asterisk reach that port of this host"
        )
        where = "Asterisk's sound directory (or the campaign's robot.pbx_sound_dir)"
    out = [Check(PROBE_ITEM, probe.connected, probe.detail, reach)]
    if probe.connected is not True:
        out.append(Check(SOUNDS_ITEM, None, "not checked: no probe call"))
        return out
    failed = [sound for sound, played, _ in probe.sounds if not played]
    heard = "; ".join(f"{sound}: {said}" for sound, _, said in probe.sounds)
    out.append(
        Check(
            SOUNDS_ITEM,
            bool(probe.sounds) and not failed,
            heard or "no sound answered",
            "pacedial pbx render --site SITE --campaign FILE --out DIR, then copy DIR/sounds/ "
            f"into {where}, readable by the PBX's user",
        )
    )
    return out


async def run_checks(inp: CheckInput) -> list[Check]:
    """The whole checklist for the site's PBX kind."""
    if inp.site.pbx == "freeswitch":
        return await check_freeswitch(inp)
    return await check_asterisk(inp)
