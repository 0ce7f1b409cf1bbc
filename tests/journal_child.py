"""A campaign runner in its own process, for tests that kill it (tests/test_result_journal.py).

``python tests/journal_child.py <database dsn> <campaign json>``: runs the campaign against an
in-process simulated Asterisk until killed. The journal directory comes from the environment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from dataclasses import replace  # noqa: E402

from e2e_rig import AsteriskRig  # noqa: E402

from dialer_core.campaign.config import parse_campaign  # noqa: E402
from dialer_core.store.database import create_pool  # noqa: E402
from pbx.sim.config import CalleeConfig  # noqa: E402
from pbx.sim.personas import PersonaMix  # noqa: E402


class PromisingRig(AsteriskRig):
    """Answered callees talk to the robot like people who mostly promise to pay."""

    def sim_config(self, dialplan=None):  # noqa: ANN001, ANN201
        people = PersonaMix(promiser=0.6, refuser=0.2, third_party=0.2)
        config = super().sim_config(dialplan)
        return replace(config, callees=CalleeConfig(personas=people))


async def main(dsn: str, doc: str) -> None:
    pool = await create_pool(dsn)
    campaign = parse_campaign(json.loads(doc), "child campaign")
    async with PromisingRig(pool, agents=12, time_scale=20, seed=4) as rig:
        print("running", flush=True)
        await rig.run_for(campaign, 3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
