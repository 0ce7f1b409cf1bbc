"""The site's recordings folder is the one the runner and the API both read."""

from pathlib import Path

from dialer_core.face.site import load_site, use_site_recordings
from dialer_core.paths import recordings_dir

SITE = """
[database]
url = "postgresql://127.0.0.1/pacedial"

[asterisk]
host = "127.0.0.1"
username = "pacedial"
secret = "s3cret"

[api]
recordings_dir = "{folder}"
"""


def test_site_recordings_dir_is_where_the_runner_reads(tmp_path, monkeypatch) -> None:
    # setenv first, so that the teardown removes what use_site_recordings sets
    monkeypatch.setenv("PACEDIAL_RECORDINGS", "")
    monkeypatch.delenv("PACEDIAL_RECORDINGS")
    folder = tmp_path / "monitor"
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE.format(folder=folder))
    use_site_recordings(load_site(site_file))
    assert recordings_dir() == folder


def test_the_environment_still_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PACEDIAL_RECORDINGS", str(tmp_path / "mount"))
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE.format(folder=tmp_path / "monitor"))
    use_site_recordings(load_site(site_file))
    assert recordings_dir() == Path(tmp_path / "mount")

