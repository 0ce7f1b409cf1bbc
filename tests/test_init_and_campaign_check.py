"""`pacedial init` writes files that load and check as written; `pacedial campaign check` finds
the first problem of any section and names the file, the key and what was expected (exit 2)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dialer_core.face import cli
from dialer_core.face.campaign_cli import check_campaign
from dialer_core.face.init_cli import write_kit
from dialer_core.face.site import load_site

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "conf" / "campaigns").glob("*.toml"))


def test_init_writes_a_site_file_and_campaigns_that_load(tmp_path):
    written = write_kit(tmp_path / "kit")
    site = load_site(tmp_path / "kit" / "site.toml")
    assert site.pbx == "asterisk" and site.api_host == "127.0.0.1"
    assert {p.name for p in written} == {"site.toml"} | {p.name for p in SHIPPED}


def test_init_never_overwrites(tmp_path, capsys):
    write_kit(tmp_path)
    assert cli.main(["init", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
async def test_every_shipped_campaign_passes_the_check(path):
    line = await check_campaign(path)
    assert line.startswith(f"{path}: ok")


async def test_the_check_validates_the_robot_section_and_renders_its_sounds(tmp_path):
    path = tmp_path / "robot.toml"
    path.write_text(
        '[campaign]\nname = "r"\n[dialing]\ncaller_id = "+862088880000"\n'
        '[compliance]\npreset = "cn"\n[recording]\nenabled = true\n'
        '[routing.default]\naction = "robot"\nscript = "reminder_zh"\n',
        encoding="utf-8",
    )
    assert "robot scripts reminder_zh" in await check_campaign(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[campaign]\nname = ""\n', "campaign.name: expected a campaign name"),
        ('[campaign]\nname = "x"\n[pacng]\nmode = "predictive"\n', "pacng: expected one of"),
        ('[campaign]\nname = "x"\n[pacing]\nmode = "warp"\n', "pacing.mode"),
        ('[campaign]\nname = "x"\n[dialing]\nring_timeout = "2s"\n', "dialing.ring_timeout"),
        ('[campaign]\nname = "x"\n[compliance]\npreset = "mars"\n', "preset"),
        (
            '[campaign]\nname = "x"\n[routing.default]\naction = "robot"\nscript = "nope"\n',
            "nope",
        ),
    ],
)
def test_each_bad_section_exits_2_naming_file_and_key(tmp_path, capsys, body, message):
    path = tmp_path / "c.toml"
    path.write_text(body, encoding="utf-8")
    assert cli.main(["campaign", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pacedial: {path}") and message in err
    assert len(err.splitlines()) == 1


def test_campaign_check_command_prints_one_line_per_file(capsys):
    out = io.StringIO()
    from dialer_core.face import campaign_cli

    assert campaign_cli.main(["check", *map(str, SHIPPED)], out=out) == 0
    assert len(out.getvalue().splitlines()) == len(SHIPPED)
