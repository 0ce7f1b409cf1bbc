"""What an administrator's check asks the simulated PBX: modules, dialplan, queue config, clock.

Shared by both faces: AMI ``ModuleCheck`` / ``ShowDialPlan`` / ``GetConfig`` (shapes from
fixtures/asterisk/ami/queue_getconfig.txt) and ESL ``module_exists`` / ``strepoch`` /
``callcenter_config queue list``. ``AdminConfig`` lets a test break one item at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

ASTERISK_MODULES = ("app_queue", "res_agi", "app_mixmonitor", "app_amd", "chan_pjsip")
FREESWITCH_MODULES = ("mod_event_socket", "mod_callcenter", "mod_sndfile", "mod_dptools")


@dataclass(frozen=True)
class AdminConfig:
    modules: tuple[str, ...] = ASTERISK_MODULES + FREESWITCH_MODULES  # loaded modules
    booted: bool = True  # FullyBooted after login / status "is ready"
    clock_offset: float = 0.0  # seconds the PBX clock is ahead of the host's
    wrapuptime: int | None = 30  # queues.conf wrapuptime of the queue (None: not set)


def module_loaded(admin: AdminConfig, name: str) -> bool:
    """``app_queue``, ``app_queue.so`` and ``mod_callcenter`` style names."""
    return name.removesuffix(".so") in admin.modules


def queue_config_lines(admin: AdminConfig, queue: str) -> list[tuple[str, str]]:
    """GetConfig's ``Category-000000`` / ``Line-000000-NNNNNN`` headers for one queue."""
    settings = ["strategy=rrmemory", "timeout=15", "retry=0"]
    if admin.wrapuptime is not None:
        settings.append(f"wrapuptime={admin.wrapuptime}")
    settings += ["eventwhencalled=yes", "eventmemberstatus=yes", "setinterfacevar=yes"]
    return [("Category-000000", queue)] + [
        (f"Line-000000-{i:06d}", line) for i, line in enumerate(settings)
    ]
