"""The site TOML file: PBX connections, database, answered-call server, API."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialer_core.config_errors import ConfigError, read_toml, reject_unknown, take
from pbx.peer_gate import DEFAULT_MAX_CONNECTIONS, parse_networks


@dataclass(frozen=True)
class AsteriskSite:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "pacedial"
    secret: str = field(default="", repr=False)
    dial_template: str = "PJSIP/{number}@trunk"
    answered_context: str = "pacedial-answered"


@dataclass(frozen=True)
class FreeSwitchSite:
    """``[freeswitch]``: inbound ESL (calls, events) and the outbound-socket server (answered)."""

    host: str = "127.0.0.1"
    port: int = 8021
    password: str = field(default="ClueCon", repr=False)
    dial_template: str = "sofia/gateway/carrier/{number}"
    target: str = "dialer-answered XML dialer"
    queues: tuple[str, ...] = ()  # mod_callcenter queues whose agents pacedial follows
    outbound_host: str = "127.0.0.1"
    outbound_port: int = 8084
    outbound_allowed_peers: tuple[str, ...] = ()  # besides loopback and `host`
    outbound_max_connections: int = DEFAULT_MAX_CONNECTIONS
    # Where FreeSWITCH writes recordings, as FreeSWITCH sees it (absolute); "" = its own
    # ${recordings_dir} (asked per call: a relative record_session name would land in sounds).
    recordings_dir: str = ""


@dataclass(frozen=True)
class SiteConfig:
    database_url: str | None = None
    pbx: str = "asterisk"
    asterisk: AsteriskSite = AsteriskSite()
    freeswitch: FreeSwitchSite = FreeSwitchSite()
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    fastagi_allowed_peers: tuple[str, ...] = ()  # besides loopback and [asterisk] host
    fastagi_max_connections: int = DEFAULT_MAX_CONNECTIONS
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_token: str | None = field(default=None, repr=False)
    api_tokens: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    recordings_dir: Path | None = None
    api_allowed_hosts: tuple[str, ...] = ()  # names besides loopback and api.host (Host header)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def parse_site(doc: dict[str, Any], source: str) -> SiteConfig:
    """Validate a site document. Secrets may come from the environment instead of the file."""
    reject_unknown(doc, {"database", "pbx", "asterisk", "fastagi", "api", "freeswitch"}, source, "")
    db = take(doc, "database", dict, {}, source, "")
    ast = take(doc, "asterisk", dict, {}, source, "")
    reject_unknown(
        ast,
        {"host", "port", "username", "secret", "dial_template", "answered_context"},
        source,
        "asterisk.",
    )
    agi = take(doc, "fastagi", dict, {}, source, "")
    reject_unknown(agi, {"host", "port", "allowed_peers", "max_connections"}, source, "fastagi.")
    api = take(doc, "api", dict, {}, source, "")
    reject_unknown(
        api, {"host", "port", "token", "tokens", "recordings_dir", "allowed_hosts"}, source, "api."
    )
    allowed_hosts = take(api, "allowed_hosts", list, [], source, "api.")
    if not all(isinstance(h, str) and h.strip() and "/" not in h for h in allowed_hosts):
        expected = 'a list of host names such as "dialer.example"'
        raise ConfigError(source, "api.allowed_hosts", expected, allowed_hosts)
    tokens = take(api, "tokens", dict, {}, source, "api.")
    scopes = {"read", "control", "pii"}
    for tok, granted in tokens.items():
        if not isinstance(granted, list) or not set(granted) <= scopes or not granted:
            raise ConfigError(
                source,
                f"api.tokens.{tok[:4]}…",
                'a list of scopes from "read", "control", "pii"',
                granted,
            )
    recordings = take(api, "recordings_dir", str, "", source, "api.")
    pbx = take(doc, "pbx", dict, {}, source, "")
    kind = take(pbx, "kind", str, "asterisk", source, "pbx.")
    if kind not in ("asterisk", "freeswitch"):
        raise ConfigError(source, "pbx.kind", "asterisk or freeswitch", kind)
    template = take(ast, "dial_template", str, "PJSIP/{number}@trunk", source, "asterisk.")
    if "{number}" not in template:
        raise ConfigError(
            source, "asterisk.dial_template", "a dial string containing {number}", template
        )
    return SiteConfig(
        database_url=os.environ.get("PACEDIAL_DATABASE_URL")
        or take(db, "url", str, None, source, "database."),
        pbx=kind,
        asterisk=AsteriskSite(
            host=take(ast, "host", str, "127.0.0.1", source, "asterisk."),
            port=take(ast, "port", int, 5038, source, "asterisk."),
            username=take(ast, "username", str, "pacedial", source, "asterisk."),
            secret=os.environ.get("PACEDIAL_AMI_SECRET")
            or take(ast, "secret", str, "", source, "asterisk."),
            dial_template=template,
            answered_context=take(
                ast, "answered_context", str, "pacedial-answered", source, "asterisk."
            ),
        ),
        freeswitch=_freeswitch(take(doc, "freeswitch", dict, {}, source, ""), source),
        fastagi_host=take(agi, "host", str, "127.0.0.1", source, "fastagi."),
        fastagi_port=take(agi, "port", int, 4573, source, "fastagi."),
        fastagi_allowed_peers=_peers(agi, "allowed_peers", source, "fastagi."),
        fastagi_max_connections=_cap(agi, "max_connections", source, "fastagi."),
        api_host=take(api, "host", str, "127.0.0.1", source, "api."),
        api_port=take(api, "port", int, 8080, source, "api."),
        api_token=os.environ.get("PACEDIAL_API_TOKEN")
        or take(api, "token", str, None, source, "api."),
        api_tokens={k: tuple(v) for k, v in tokens.items()},
        recordings_dir=Path(recordings) if recordings else None,
        api_allowed_hosts=tuple(allowed_hosts),
        raw=doc,
    )


def _freeswitch(fs: dict[str, Any], source: str) -> FreeSwitchSite:
    """``[freeswitch]``; the ESL password may come from PACEDIAL_ESL_PASSWORD instead."""
    reject_unknown(
        fs,
        {
            "host",
            "port",
            "password",
            "dial_template",
            "target",
            "queues",
            "outbound_host",
            "outbound_port",
            "outbound_allowed_peers",
            "outbound_max_connections",
            "recordings_dir",
        },
        source,
        "freeswitch.",
    )
    p = "freeswitch."
    template = take(fs, "dial_template", str, FreeSwitchSite.dial_template, source, p)
    if "{number}" not in template:
        expected = "a dial string containing {number}"
        raise ConfigError(source, f"{p}dial_template", expected, template)
    target = take(fs, "target", str, FreeSwitchSite.target, source, p)
    if not target.strip():
        raise ConfigError(source, f"{p}target", "an originate target such as 'ext XML context'")
    queues = take(fs, "queues", list, [], source, p)
    if not all(isinstance(q, str) and q and " " not in q for q in queues):
        raise ConfigError(source, f"{p}queues", "a list of mod_callcenter queue names", queues)
    return FreeSwitchSite(
        host=take(fs, "host", str, "127.0.0.1", source, p),
        port=take(fs, "port", int, 8021, source, p),
        password=os.environ.get("PACEDIAL_ESL_PASSWORD")
        or take(fs, "password", str, "ClueCon", source, p),
        dial_template=template,
        target=target,
        queues=tuple(queues),
        outbound_host=take(fs, "outbound_host", str, "127.0.0.1", source, p),
        outbound_port=take(fs, "outbound_port", int, 8084, source, p),
        outbound_allowed_peers=_peers(fs, "outbound_allowed_peers", source, p),
        outbound_max_connections=_cap(fs, "outbound_max_connections", source, p),
        recordings_dir=_absolute(fs, "recordings_dir", source, p),
    )


def _absolute(table: dict, key: str, source: str, prefix: str) -> str:
    """An optional absolute directory on the PBX ("" when unset)."""
    value = take(table, key, str, "", source, prefix)
    if value and not value.startswith("/"):
        raise ConfigError(source, f"{prefix}{key}", "an absolute path on the PBX", value)
    return value.rstrip("/")


def _peers(table: dict[str, Any], key: str, source: str, prefix: str) -> tuple[str, ...]:
    """An allow-list of PBX addresses / CIDR blocks for an answered-call server."""
    peers = take(table, key, list, [], source, prefix)
    expected = 'a list of PBX addresses or CIDR blocks such as "10.0.0.5", "10.0.0.0/24"'
    if not all(isinstance(p, str) for p in peers):
        raise ConfigError(source, f"{prefix}{key}", expected, peers)
    try:
        parse_networks(peers)
    except ValueError as exc:
        raise ConfigError(source, f"{prefix}{key}", f"{expected} ({exc})", peers) from None
    return tuple(peers)


def _cap(table: dict[str, Any], key: str, source: str, prefix: str) -> int:
    cap = take(table, key, int, DEFAULT_MAX_CONNECTIONS, source, prefix)
    if cap < 1:
        raise ConfigError(source, f"{prefix}{key}", "a connection cap of at least 1", cap)
    return cap


def load_site(path: str | Path | None) -> SiteConfig:
    """Read a site TOML file; no file means all defaults (embedded database)."""
    if path is None:
        return parse_site({}, "(defaults)")
    return parse_site(read_toml(path, "the site file"), str(path))


def use_site_recordings(site: SiteConfig) -> None:
    """Make ``[api] recordings_dir`` the folder every part of this process reads the PBX's
    recordings from (the runner's sizes, checksums and retention as well as the API's
    playback), unless ``$PACEDIAL_RECORDINGS`` names one already."""
    if site.recordings_dir is not None:
        os.environ.setdefault("PACEDIAL_RECORDINGS", str(site.recordings_dir))
