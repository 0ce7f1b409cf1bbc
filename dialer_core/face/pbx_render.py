"""``pacedial pbx render``: the PBX-side snippets and sounds one site needs, from its site file.

Asterisk: the AMI user as its own ``manager.d/pacedial.conf``, the answered-call context
(FastAGI to this host), one app_queue queue per campaign queue. FreeSWITCH: the event socket
(ESL) settings, the dialplan extension handing answered calls to the outbound socket, the
mod_callcenter queues. Both: the safe-harbor drop message and every robot prompt the campaigns
use, rendered with espeak-ng + sox exactly as the robot renders its prompts (8 kHz mono 16-bit
WAV, what both PBXs play without transcoding), into ``sounds/``. conf/asterisk and
conf/freeswitch document every setting; these files are the same settings filled in.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from agi_scripts.handling import build_call_handling
from agi_scripts.speech.engines import EspeakEngine
from agi_scripts.speech.prompts import TtsPromptSource, check_engine
from dialer_core.campaign.config import CampaignConfig
from dialer_core.config_errors import ConfigError
from dialer_core.face.site import SiteConfig
from dialer_core.paths import sound_dir

DEFAULT_DROP = {
    "zh": "您好，这里是催收中心，稍后我们会再次联系您。如需停止来电，请回拨本号码。",
    "en": "Hello, this is the collections office calling about your account. We will call you "
    "again later. To stop these calls, call this number back.",
}


@dataclass(frozen=True)
class RenderPlan:
    """What to render: the site, its campaigns, where pacedial listens as the PBX sees it."""

    site: SiteConfig
    campaigns: tuple[CampaignConfig, ...]
    dialer_host: str  # the address the PBX reaches pacedial at (FastAGI / outbound socket)
    drop_text: str
    voice: str = "zh"


def _queues(plan: RenderPlan) -> list[str]:
    names = [c.queue for c in plan.campaigns] or ["collectors"]
    return list(dict.fromkeys([*names, *plan.site.freeswitch.queues]))


_DROPPED_INSERT = "insert/pacedial_dropped/${pacedial_call_id}/${strepoch()}"


def _drop_sound(plan: RenderPlan) -> str:
    """The drop message as the PBX reads it (no extension): the first campaign's
    ``compliance.abandon.prompt`` in ``robot.pbx_sound_dir``, else in pacedial's sounds."""
    campaign = plan.campaigns[0] if plan.campaigns else None
    prompt = campaign.compliance.abandon.prompt if campaign else "safe-harbor"
    if prompt.startswith("/"):
        return prompt
    robot = (campaign.raw.get("robot") or {}) if campaign else {}
    folder = str(robot.get("pbx_sound_dir") or sound_dir()).rstrip("/")
    return f"{folder}/{prompt}"


def asterisk_files(plan: RenderPlan) -> dict[str, str]:
    """``manager.d/pacedial.conf``, ``extensions.d/pacedial.conf``, ``queues.d/pacedial.conf``."""
    ast, site = plan.site.asterisk, plan.site
    if not ast.secret:
        raise ConfigError(
            "site file", "asterisk.secret", "a secret for the AMI user (or PACEDIAL_AMI_SECRET)"
        )
    manager = f"""; pacedial's AMI user, rendered by `pacedial pbx render`.
; Copy to /etc/asterisk/manager.d/pacedial.conf; manager.conf needs [general] enabled = yes
; and the line:  #tryinclude manager.d/*.conf   then: asterisk -rx "manager reload"
[{ast.username}]
secret = {ast.secret}
deny = 0.0.0.0/0.0.0.0
permit = {plan.dialer_host}/255.255.255.255
read = system,call,agent,user,reporting
write = system,call,originate,reporting,agent,config
writetimeout = 5000
"""
    extensions = f"""; pacedial's answered-call context, rendered by `pacedial pbx render`.
; Copy to /etc/asterisk/extensions.d/pacedial.conf; extensions.conf needs the line:
;   #tryinclude extensions.d/*.conf   then: asterisk -rx "dialplan reload"
[{ast.answered_context}]
exten => s,1,NoOp(pacedial call ${{PACEDIAL_CALL_ID}})
 same => n,AGI(agi://{plan.dialer_host}:{site.fastagi_port}/router,${{PACEDIAL_CALL_ID}})
 same => n,GotoIf($["${{AGISTATUS}}" = "FAILURE"]?unreachable)
 same => n,Hangup()
 ; pacedial unreachable: record the call for pacedial's next start (booked abandoned), then
 ; the law's drop message.
 same => n(unreachable),Set(DB(pacedial_dropped/${{PACEDIAL_CALL_ID}})=${{EPOCH}})
 same => n,Playback({_drop_sound(plan)})
 same => n,Hangup()
"""
    queues = [
        "; pacedial's agent queues, rendered by `pacedial pbx render`.",
        "; Copy to /etc/asterisk/queues.d/pacedial.conf; queues.conf needs the line:",
        ';   #tryinclude queues.d/*.conf   then: asterisk -rx "queue reload all"',
        "; Add your agents as members (member => PJSIP/8001) or dynamically (AddQueueMember).",
    ]
    for name in _queues(plan):
        queues += [
            f"\n[{name}]",
            "strategy = rrmemory",
            "timeout = 15",
            "retry = 0",
            "wrapuptime = 30          ; pacedial reads it: an agent is free again after it",
            "autopause = no",
            "ringinuse = no",
            "joinempty = yes",
            "leavewhenempty = no",
            "setinterfacevar = yes",
        ]
    return {
        "asterisk/manager.d/pacedial.conf": manager,
        "asterisk/extensions.d/pacedial.conf": extensions,
        "asterisk/queues.d/pacedial.conf": "\n".join(queues) + "\n",
    }


def freeswitch_files(plan: RenderPlan) -> dict[str, str]:
    """Event socket, dialplan and mod_callcenter queue snippets for FreeSWITCH 1.10."""
    fs = plan.site.freeswitch
    exten, _, rest = fs.target.partition(" XML ")
    context = rest.strip() or "dialer"
    esl = f"""<!-- pacedial: rendered by `pacedial pbx render`. Copy to
     conf/autoload_configs/event_socket.conf.xml, then: fs_cli -x "reload mod_event_socket" -->
<configuration name="event_socket.conf" description="Socket Client">
  <settings>
    <param name="nat-map" value="false"/>
    <param name="listen-ip" value="{fs.host}"/>
    <param name="listen-port" value="{fs.port}"/>
    <param name="password" value="{fs.password}"/>
    <param name="apply-inbound-acl" value="pacedial"/>
  </settings>
</configuration>
<!-- and in conf/autoload_configs/acl.conf.xml:
  <list name="pacedial" default="deny"><node type="allow" cidr="{plan.dialer_host}/32"/></list> -->
"""
    dialplan = f"""<!-- pacedial: rendered by `pacedial pbx render`. Copy to
     conf/dialplan/pacedial.xml (beside default.xml), then: fs_cli -x "reloadxml" -->
<include>
  <context name="{context}">
    <extension name="{exten.strip()}">
      <condition field="destination_number" expression="^{exten.strip()}$">
        <action application="set" data="playback_terminators=none"/>
        <action application="socket" data="{plan.dialer_host}:{fs.outbound_port} async full"/>
        <!-- pacedial unreachable: record the call for pacedial's next start (booked
             abandoned), then the law's drop message. -->
        <action application="db" data="{_DROPPED_INSERT}"/>
        <action application="playback" data="{_drop_sound(plan)}.wav"/>
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition>
    </extension>
  </context>
</include>
"""
    queues = "\n".join(
        f'    <queue name="{q}@default">\n'
        '      <param name="strategy" value="longest-idle-agent"/>\n'
        '      <param name="max-wait-time" value="0"/>\n'
        '      <param name="discard-abandoned-after" value="60"/>\n'
        "    </queue>"
        for q in _queues(plan)
    )
    callcenter = f"""<!-- pacedial: rendered by `pacedial pbx render`. Merge into
     conf/autoload_configs/callcenter.conf.xml; agents need wrap-up-time (seconds), e.g.
     callcenter_config agent set wrap_up_time agent-1001@default 30 -->
<configuration name="callcenter.conf" description="CallCenter">
  <queues>
{queues}
  </queues>
</configuration>
"""
    return {
        "freeswitch/autoload_configs/event_socket.conf.xml": esl,
        "freeswitch/dialplan/pacedial.xml": dialplan,
        "freeswitch/autoload_configs/callcenter.pacedial.xml": callcenter,
    }


async def render_sounds(plan: RenderPlan, sound_dir: Path) -> list[Path]:
    """The drop message (as each campaign names it) and every robot prompt, in ``sound_dir``."""
    engine = EspeakEngine()
    check_engine(engine, [plan.voice])
    source = TtsPromptSource(engine, sound_dir, plan.voice)
    rendered = source.path_for(await source.sound_for("drop", plan.drop_text))
    made: list[Path] = []
    names = {c.compliance.abandon.prompt for c in plan.campaigns} or {"safe-harbor"}
    for name in sorted(names):
        target = sound_dir / f"{name}.wav"
        shutil.copyfile(rendered, target)
        target.chmod(0o644)
        made.append(target)
    for campaign in plan.campaigns:
        before = set(sound_dir.glob("*.wav"))
        await build_call_handling(campaign.raw, campaign.name, sound_dir=sound_dir)
        made += sorted(set(sound_dir.glob("*.wav")) - before)
    return made


async def render(plan: RenderPlan, out: Path) -> list[Path]:
    """Write the site's PBX files under ``out``; return every file written."""
    files = asterisk_files(plan) if plan.site.pbx == "asterisk" else freeswitch_files(plan)
    written: list[Path] = []
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    written += await render_sounds(plan, out / "sounds")
    return written
