"""Sound files the PBX plays from a name: which formats count and where the file is."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SOUND_EXTENSIONS", "find_sound"]

# The formats Asterisk and FreeSWITCH both play from a file name (Asterisk picks by extension).
SOUND_EXTENSIONS = (".wav", ".sln", ".sln16", ".ulaw", ".alaw", ".gsm", ".g722")


def find_sound(name: str, directory: Path) -> Path | None:
    """The file of sound ``name`` (no extension, or an absolute path) in ``directory``."""
    base = Path(name) if Path(name).is_absolute() else directory / name
    if base.suffix in SOUND_EXTENSIONS and base.is_file():
        return base
    for ext in SOUND_EXTENSIONS:
        candidate = base.with_name(base.name + ext)
        if candidate.is_file():
            return candidate
    return None
