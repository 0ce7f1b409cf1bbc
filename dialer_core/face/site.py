"""The site TOML file: PBX connections, database, answered-call server, API."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialer_core.config_errors import ConfigError, reject_unknown, take


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


@dataclass(frozen=True)
class SiteConfig:
    database_url: str | None = None
    pbx: str = "asterisk"
    asterisk: AsteriskSite = AsteriskSite()
    freeswitch: FreeSwitchSite = FreeSwitchSite()
    fastagi_host: str = "0.0.0.0"
    fastagi_port: int = 4573
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_token: str | None = field(default=None, repr=False)
    api_tokens: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    recordings_dir: Path | None = None
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
    api = take(doc, "api", dict, {}, source, "")
    reject_unknown(api, {"host", "port", "token", "tokens", "recordings_dir"}, source, "api.")
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
        fastagi_host=take(agi, "host", str, "0.0.0.0", source, "fastagi."),
        fastagi_port=take(agi, "port", int, 4573, source, "fastagi."),
        api_host=take(api, "host", str, "127.0.0.1", source, "api."),
        api_port=take(api, "port", int, 8080, source, "api."),
        api_token=os.environ.get("PACEDIAL_API_TOKEN")
        or take(api, "token", str, None, source, "api."),
        api_tokens={k: tuple(v) for k, v in tokens.items()},
        recordings_dir=Path(recordings) if recordings else None,
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
    )


def load_site(path: str | Path | None) -> SiteConfig:
    """Read a site TOML file; no file means all defaults (embedded database)."""
    if path is None:
        return parse_site({}, "(defaults)")
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "(file)", "an existing site TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(syntax)", f"valid TOML ({exc})") from exc
    return parse_site(doc, str(path))
