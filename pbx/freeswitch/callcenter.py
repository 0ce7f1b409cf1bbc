"""mod_callcenter agent states from ``callcenter_config queue list agents <queue>`` (sans-IO).

The api answers a ``|``-separated table: a header row naming the columns (``name``,
``status``, ``state``, ``ready_time``...), one row per agent, and a final ``+OK`` line. Columns
are found by name, so extra or reordered columns do not matter. No fixture of this output was
recorded with the rest of ``tests/fixtures/freeswitch``; the format follows the mod_callcenter
documentation for FreeSWITCH 1.10.
"""

from __future__ import annotations

from pbx.freeswitch.client import EslError
from pbx.model import AgentState


def agent_state(status: str, state: str, ready_time: int = 0, now: float | None = None) -> str:
    """Map mod_callcenter ``status`` / ``state`` to a pbx.model AgentState.state word.

    ``Waiting`` with ``ready_time`` still ahead of ``now`` (epoch seconds) is wrap-up.
    """
    status = status.strip().lower()
    state = state.strip().lower()
    if status == "logged out":
        return "logged_out"
    if status == "on break":
        return "paused"
    if state == "in a queue call":
        return "talking"
    if state == "receiving":
        return "ringing"
    if state == "waiting":
        if now is not None and ready_time > now:
            return "wrapup"
        return "idle"
    # "Idle" in mod_callcenter means "do not offer calls" (a manual pause).
    return "paused"


def parse_agent_list(
    body: str, queue: str, *, now: float | None = None, where: str = "callcenter_config"
) -> list[AgentState]:
    """Agents of ``queue`` from the api answer; raises EslError on ``-ERR`` or a bad table."""
    lines = [line for line in body.splitlines() if line.strip()]
    if lines and lines[0].startswith("-ERR"):
        raise EslError(f"{where}: callcenter_config for queue {queue!r}: {lines[0]!r}")
    lines = [line for line in lines if line.strip() != "+OK"]
    if not lines:
        return []
    header = lines[0].split("|")
    try:
        i_name, i_status, i_state = (header.index(k) for k in ("name", "status", "state"))
    except ValueError:
        raise EslError(f"{where}: unexpected callcenter_config header {lines[0][:120]!r}") from None
    i_ready = header.index("ready_time") if "ready_time" in header else -1
    out: list[AgentState] = []
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split("|")
        if len(cells) != len(header):
            raise EslError(f"{where}: callcenter_config line {lineno}: {len(cells)} columns")
        ready = cells[i_ready] if i_ready >= 0 else "0"
        state = agent_state(
            cells[i_status], cells[i_state], int(ready) if ready.isdigit() else 0, now
        )
        out.append(AgentState(agent=cells[i_name], queue=queue, state=state))
    return out
