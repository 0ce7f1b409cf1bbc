"""What ``pacedial run`` checks before it dials: the drop message exists where the PBX reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agi_scripts.handling import CallHandling
from dialer_core.face import cli
from dialer_core.face.preflight import MissingSound, check_drop_message
from pbx.sounds import find_sound

CAMPAIGN = Path(__file__).resolve().parents[1] / "conf" / "campaigns" / "progressive.toml"


def test_missing_drop_message_names_campaign_key_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingSound) as err:
        check_drop_message("collect", "safe-harbor", tmp_path)
    text = str(err.value)
    assert "campaign collect: compliance.abandon.prompt = 'safe-harbor'" in text
    assert "safe-harbor.{wav|sln" in text and str(tmp_path) in text
    assert "\n" not in text


def test_drop_message_in_any_pbx_format_is_found(tmp_path: Path) -> None:
    (tmp_path / "safe-harbor.sln16").write_bytes(b"\0\0")
    assert check_drop_message("c", "safe-harbor", tmp_path) == tmp_path / "safe-harbor.sln16"
    assert find_sound(str(tmp_path / "safe-harbor"), Path("/nowhere")) is not None
    with pytest.raises(MissingSound, match="is empty"):
        check_drop_message("c", "", tmp_path)


def test_the_pbx_plays_the_drop_message_from_pacedials_sounds(tmp_path: Path) -> None:
    (tmp_path / "safe-harbor.wav").write_bytes(b"RIFF")
    handling = CallHandling(sound_dir=tmp_path, pbx_sound_dir="/mnt/pacedial/sounds/")
    assert handling.pbx_sound("safe-harbor") == "/mnt/pacedial/sounds/safe-harbor"
    assert handling.pbx_sound("beep") == "beep"  # not ours: the PBX's own sound
    assert CallHandling(sound_dir=tmp_path).pbx_sound("safe-harbor") == f"{tmp_path}/safe-harbor"


def test_pacedial_run_stops_at_start_with_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PACEDIAL_SOUNDS", str(tmp_path))
    site = tmp_path / "site.toml"
    site.write_text("")
    code = cli.main(["run", "--site", str(site), "--campaign", str(CAMPAIGN)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("pacedial: campaign ") and "safe-harbor" in err and str(tmp_path) in err
    assert len(err.splitlines()) == 1
