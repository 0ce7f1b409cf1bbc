"""What an administrator's check asks the simulated PBX: modules, dialplan, queue config, clock.

Shared by both faces: AMI ``ModuleCheck`` / ``ShowDialPlan`` and ESL ``module_exists`` /
``strepoch`` / ``callcenter_config queue list`` (``GetConfig`` is the queue's, in pbx.py), and
which sound files exist (STREAM FILE answers -1, playback FILE NOT FOUND, for the others).
``AdminConfig`` lets a test break one item at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

ASTERISK_MODULES = ("app_queue", "res_agi", "app_mixmonitor", "app_amd", "chan_pjsip")
FREESWITCH_MODULES = ("mod_event_socket", "mod_callcenter", "mod_sndfile", "mod_dptools")


@dataclass(frozen=True)
class AdminConfig:
    # Loaded modules; mod_amd is the third-party module a site builds (1.10 ships no AMD).
    modules: tuple[str, ...] = (*ASTERISK_MODULES, *FREESWITCH_MODULES, "mod_amd")
    booted: bool = True  # FullyBooted after login / status "is ready"
    clock_offset: float = 0.0  # seconds the PBX clock is ahead of the host's
    sounds: frozenset[str] | None = None  # sound files it has (names); None: every one


def sound_found(admin: AdminConfig, path: str) -> bool:
    """Whether the PBX can open the sound ``path`` (a name or a path, with or without .wav)."""
    name = path.rsplit("/", 1)[-1].removesuffix(".wav")
    return admin.sounds is None or name in admin.sounds


def module_loaded(admin: AdminConfig, name: str) -> bool:
    """``app_queue``, ``app_queue.so`` and ``mod_callcenter`` style names."""
    return name.removesuffix(".so") in admin.modules
