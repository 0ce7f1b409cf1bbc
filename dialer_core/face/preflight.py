"""Checks ``pacedial run`` makes before dialing: what would otherwise fail on every call.

* The drop message (``compliance.abandon.prompt``) must exist as a sound file where the PBX reads
  pacedial's sounds (``$PACEDIAL_SOUNDS``): the law's condition for a dropped call is that the
  message plays, and a real Asterisk only logs "File safe-harbor does not exist" and goes on.
* The answering-machine detector the campaign asks for must exist on the PBX: Asterisk's ``AMD``
  application (app_amd), or on FreeSWITCH the application the site installed and named in the
  campaign (``amd.application``); FreeSWITCH 1.10 ships none (its ``execute amd`` hangs the
  call up with DESTINATION_OUT_OF_ORDER, ``outbound_execute_missing_app.txt``).
"""

from __future__ import annotations

from pathlib import Path

from dialer_core.config_errors import InputError
from pbx.sounds import SOUND_EXTENSIONS, find_sound

__all__ = ["MissingSound", "check_drop_message"]


class MissingSound(InputError):
    """A sound the campaign needs is not where the PBX reads it."""


def check_drop_message(campaign: str, prompt: str, directory: Path) -> Path:
    """The drop message's file; MissingSound (one line: campaign, key, where, what to do)."""
    if not prompt:
        raise MissingSound(
            f"campaign {campaign}: compliance.abandon.prompt is empty: every dropped call "
            "must play a message naming the caller and a number to call back"
        )
    found = find_sound(prompt, directory)
    if found is None:
        exts = "|".join(e.lstrip(".") for e in SOUND_EXTENSIONS)
        raise MissingSound(
            f"campaign {campaign}: compliance.abandon.prompt = {prompt!r}: no sound file "
            f"{Path(prompt).name}.{{{exts}}} in {directory} (the PBX plays it on every dropped "
            "call; record it there or render it with `pacedial pbx render`, see "
            "docs/asterisk.md or docs/freeswitch.md, section Sounds)"
        )
    return found
