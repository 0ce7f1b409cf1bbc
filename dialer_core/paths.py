"""Folders pacedial shares with the PBX, beside the embedded database's data by default."""

from __future__ import annotations

import os
from pathlib import Path

from dialer_core.store.embedded import default_data_dir


def sound_dir() -> Path:
    """Where rendered robot prompts go (the PBX must read it): $PACEDIAL_SOUNDS or default."""
    configured = os.environ.get("PACEDIAL_SOUNDS")
    return Path(configured) if configured else default_data_dir().parent / "sounds"


def recordings_dir() -> Path:
    """The PBX's recording folder as this host sees it: $PACEDIAL_RECORDINGS or default (where
    the simulated PBX writes)."""
    configured = os.environ.get("PACEDIAL_RECORDINGS")
    return Path(configured) if configured else default_data_dir().parent / "recordings"


def reports_dir() -> Path:
    """Where cycle reports go unless --out says otherwise: $PACEDIAL_HOME/reports (or the
    default data folder's), never the current directory."""
    return default_data_dir().parent / "reports"
