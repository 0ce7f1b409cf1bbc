"""The probe call of ``pacedial pbx check``: the PBX reaches our port and plays our sounds.

For the length of the probe this process listens where the site says pacedial's answered-call
server listens, then asks the PBX for a call into its own answered-call dialplan, with no phone
at the other end:

* Asterisk: ``Originate Local/s@<answered context>/n`` (Application ``Wait``); the context's
  ``AGI(agi://...)`` must connect to us. Over that AGI session each sound a campaign plays is
  opened with ``STREAM FILE <sound> "" <offset past its end>``: Asterisk answers ``result=0``
  and the sound's length (``endpos``, 8000 a second) when it could open it, ``result=-1`` when
  not; nothing is heard.
* FreeSWITCH: ``originate loopback/<exten>/<context> &park()``; the extension's ``socket``
  must connect to our outbound-socket port. Each sound is played with ``playback``, whose
  ``Application-Response`` says ``FILE PLAYED`` or ``FILE NOT FOUND``.

A port already taken (pacedial serve running) is reported, not probed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dialer_core.campaign.config import CampaignConfig
from dialer_core.face.site import SiteConfig
from pbx.asterisk.client import AmiClient, AmiError
from pbx.freeswitch.client import EslClient, EslError
from pbx.freeswitch.outbound import EslSession, OutboundServer
from pbx.model import DROPPED_REALM

PROBE_SECONDS = 10.0  # for the PBX to connect, and for each sound to answer
SAMPLE_RATE = 8000
PAST_THE_END = 10**9  # a STREAM FILE offset beyond any sound: opened, measured, not played
PROBE_ITEM = "probe call"
SOUNDS_ITEM = "sounds play"


@dataclass(frozen=True)
class ProbeResult:
    """What the probe saw: whether the PBX connected (None: not tried) and each sound."""

    connected: bool | None
    detail: str
    sounds: tuple[tuple[str, bool, str], ...] = ()  # (sound, played, what the PBX said)


def probe_sounds(campaigns: tuple[CampaignConfig, ...]) -> list[str]:
    """The sounds the campaigns have the PBX play, as it is given them: each drop message and
    machine message, under the campaign's ``robot.pbx_sound_dir`` when it sets one."""
    sounds: list[str] = []
    for campaign in campaigns:
        robot = campaign.raw.get("robot") or {}
        amd = campaign.raw.get("amd") or {}
        folder = str(robot.get("pbx_sound_dir") or "").rstrip("/")
        names = [campaign.compliance.abandon.prompt]
        if amd.get("action") == "message" and amd.get("message_prompt"):
            names.append(str(amd["message_prompt"]))
        sounds += [f"{folder}/{name}" if folder else name for name in names if name]
    return list(dict.fromkeys(sounds)) or ["safe-harbor"]


def _listen_failure(host: str, port: int, exc: OSError) -> ProbeResult:
    return ProbeResult(
        None,
        f"cannot listen on {host}:{port} ({exc.strerror or exc}); stop pacedial serve on this "
        "host to let the check take the port",
    )


async def probe_asterisk(client: AmiClient, site: SiteConfig, sounds: list[str]) -> ProbeResult:
    """The probe over AMI and FastAGI (see the module docstring)."""
    host, port = site.fastagi_host, site.fastagi_port
    arrived: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    arrived = asyncio.get_running_loop().create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if arrived.done():
            writer.close()
        else:
            arrived.set_result((reader, writer))

    try:
        server = await asyncio.start_server(accept, host, port)
    except OSError as exc:
        return _listen_failure(host, port, exc)
    token = f"probe-{secrets.token_hex(4)}"
    try:
        reply = await client.send_action(
            [
                ("Action", "Originate"),
                ("Channel", f"Local/s@{site.asterisk.answered_context}/n"),
                ("Application", "Wait"),
                ("Data", str(int(PROBE_SECONDS * 3))),
                ("Variable", f"PACEDIAL_CALL_ID={token}"),
                ("CallerID", '"pacedial probe" <0>'),
                ("Timeout", str(int(PROBE_SECONDS * 1000))),
                ("Async", "true"),
            ]
        )
        if reply.response != "Success":
            return ProbeResult(False, f"Originate refused: {reply.get('Message') or '?'}")
        try:
            reader, writer = await asyncio.wait_for(arrived, PROBE_SECONDS)
        except TimeoutError:
            # The shipped dialplan's fallback noted the probe as dropped while pacedial was
            # down (AstDB); no attempt will ever claim it.
            with contextlib.suppress(AmiError, OSError):
                await client.send_action(
                    [("Action", "DBDel"), ("Family", DROPPED_REALM), ("Key", token)]
                )
            return ProbeResult(
                False, f"no FastAGI connection to {host}:{port} within {PROBE_SECONDS:.0f} s"
            )
        try:
            return await asyncio.wait_for(
                _agi_session(reader, writer, token, sounds), PROBE_SECONDS * (1 + len(sounds))
            )
        except (TimeoutError, OSError, ValueError) as exc:
            return ProbeResult(True, f"the AGI session broke off: {exc or 'timed out'}")
        finally:
            writer.close()
    except AmiError as exc:
        return ProbeResult(False, f"Originate failed: {exc}")
    finally:
        server.close()
        await server.wait_closed()


async def _agi_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str, sounds: list[str]
) -> ProbeResult:
    env: dict[str, str] = {}
    while line := (await reader.readline()).decode(errors="replace").strip():
        key, _, value = line.partition(":")
        env[key.strip()] = value.strip()
    peer = writer.get_extra_info("peername")
    who = peer[0] if isinstance(peer, tuple) else "the PBX"
    mine = "the probe's call id" if env.get("agi_arg_1") == token else "another call id"
    detail = f"AGI {env.get('agi_network_script', '?')} from {who} with {mine}"
    played = []
    for sound in sounds:
        writer.write(f'STREAM FILE {sound} "" {PAST_THE_END}\n'.encode())
        await writer.drain()
        answer = await _agi_reply(reader)
        fields = dict(part.partition("=")[::2] for part in answer.split()[1:])
        opened = answer.startswith("200") and fields.get("result") == "0"
        length = int(fields.get("endpos") or 0) / SAMPLE_RATE
        said = f"{length:.1f} s" if opened else f"the PBX cannot open it ({answer})"
        played.append((sound, opened, said))
    writer.write(b"HANGUP\n")
    with contextlib.suppress(OSError):
        await writer.drain()
    return ProbeResult(True, detail, tuple(played))


async def _agi_reply(reader: asyncio.StreamReader) -> str:
    """The next ``200 ...`` style reply (a ``HANGUP`` notice is skipped)."""
    while True:
        line = (await reader.readline()).decode(errors="replace").strip()
        if not line:
            raise ValueError("the PBX closed the AGI session")
        if line != "HANGUP":
            return line


async def probe_freeswitch(client: EslClient, site: SiteConfig, sounds: list[str]) -> ProbeResult:
    """The probe over inbound ESL and the outbound socket (see the module docstring)."""
    fs = site.freeswitch
    arrived: asyncio.Future[EslSession] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def handler(session: EslSession) -> None:
        if not arrived.done():
            arrived.set_result(session)
            await done.wait()

    server = OutboundServer(handler, fs.outbound_host, fs.outbound_port, linger=False)
    try:
        await server.start()
    except OSError as exc:
        return _listen_failure(fs.outbound_host, fs.outbound_port, exc)
    exten, _, rest = fs.target.partition(" XML ")
    context = rest.strip() or "default"
    token = f"probe-{secrets.token_hex(4)}"
    dial = (
        f"{{pacedial_call_id={token},origination_caller_id_number=0,"
        f"originate_timeout={int(PROBE_SECONDS)}}}loopback/{exten.strip()}/{context} &park()"
    )
    try:
        try:
            await client.bgapi(f"originate {dial}", secrets.token_hex(8))
        except EslError as exc:
            return ProbeResult(False, f"originate refused: {exc}")
        try:
            session = await asyncio.wait_for(arrived, PROBE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(EslError, OSError):  # the fallback's note (see Asterisk)
                await client.api(f"db delete/{DROPPED_REALM}/{token}")
            return ProbeResult(
                False,
                f"no outbound-socket connection to {fs.outbound_host}:{fs.outbound_port} "
                f"within {PROBE_SECONDS:.0f} s",
            )
        mine = "the probe's call id" if session.call_id == token else "another call id"
        detail = f"outbound socket from {session.channel_data.get('Channel-Name', '?')}, {mine}"
        try:
            played = await asyncio.wait_for(
                _play_each(session.execute, sounds), PROBE_SECONDS * (1 + len(sounds))
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the session is the finding
            return ProbeResult(True, f"{detail}; the session broke off: {exc or 'timed out'}")
        with contextlib.suppress(Exception):
            await session.hangup()
        return ProbeResult(True, detail, played)
    finally:
        done.set()
        await server.close()


async def _play_each(
    execute: Callable[[str, str], Awaitable[str]], sounds: list[str]
) -> tuple[tuple[str, bool, str], ...]:
    await execute("answer", "")
    played = []
    for sound in sounds:
        path = sound if "." in sound.rsplit("/", 1)[-1] else f"{sound}.wav"
        response = await execute("playback", path)
        played.append((sound, response == "FILE PLAYED", response or "no answer"))
    return tuple(played)
