"""``pacedial init DIR``: a commented site file and campaign files that run as written.

Writes ``DIR/site.toml`` (embedded database, a simulated-PBX-free default: fill in your PBX) and
``DIR/campaigns/*.toml`` copied from the shipped examples; refuses to overwrite anything.
``pacedial campaign check DIR/campaigns/*.toml`` passes on what it writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dialer_core.config_errors import InputError
from dialer_core.package_data import conf_path

SITE = """\
# pacedial site file, written by `pacedial init`. One per site: the PBX, the database, where
# pacedial listens. Every key is optional; the values shown are the defaults unless marked.
# Secrets may come from the environment instead: PACEDIAL_AMI_SECRET, PACEDIAL_ESL_PASSWORD,
# PACEDIAL_API_TOKEN, PACEDIAL_DATABASE_URL. docs/deploy.md walks through a first campaign.

[pbx]
kind = "asterisk"                 # or "freeswitch" (then fill in [freeswitch] below)

[asterisk]                        # AMI: the manager user `pacedial pbx render` writes
host = "127.0.0.1"
port = 5038
username = "pacedial"
secret = "change-me"              # set a long random secret (or PACEDIAL_AMI_SECRET)
dial_template = "PJSIP/{number}@trunk"   # your trunk's dial string; {number} = E.164 digits
answered_context = "pacedial-answered"

[fastagi]                         # where Asterisk connects for answered calls
host = "127.0.0.1"                # the address the PBX reaches this host at
port = 4573

# [freeswitch]                    # inbound ESL and the outbound socket for answered calls
# host = "127.0.0.1"
# port = 8021
# password = "ClueCon"            # change it on both sides (or PACEDIAL_ESL_PASSWORD)
# dial_template = "sofia/gateway/carrier/{number}"
# target = "dialer-answered XML dialer"
# queues = ["collectors"]
# outbound_host = "127.0.0.1"
# outbound_port = 8084

[api]                             # dashboard and JSON API of `pacedial serve`
host = "127.0.0.1"                # any other address needs a token
port = 8080
# token = "..."                   # or PACEDIAL_API_TOKEN
# recordings_dir = "/mnt/pbx-recordings"   # the PBX's recordings as this host sees them

# [database]
# url = "postgresql://pacedial@db.example/pacedial"   # default: embedded PostgreSQL
"""


def write_kit(target: Path) -> list[Path]:
    """Write the site file and the campaigns under ``target``; return the files written."""
    files = {target / "site.toml": SITE}
    for example in sorted(conf_path("campaigns").glob("*.toml")):
        files[target / "campaigns" / example.name] = example.read_text(encoding="utf-8")
    taken = [str(p) for p in files if p.exists()]
    if taken:
        raise InputError(
            f"{taken[0]}: already exists; pacedial init never overwrites, choose another folder"
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def main(argv: list[str], out=sys.stdout) -> int:  # noqa: ANN001 - a text stream
    """Entry point for ``pacedial init``."""
    parser = argparse.ArgumentParser(prog="pacedial init", description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="folder to write into (created if needed)")
    target = Path(parser.parse_args(argv).dir)
    for path in write_kit(target):
        print(path, file=out)
    print(
        f"next: edit {target / 'site.toml'}, then `pacedial campaign check "
        f"{target / 'campaigns'}/*.toml` and `pacedial pbx render --site {target / 'site.toml'}"
        " --out pbx-files` (docs/deploy.md)",
        file=out,
    )
    return 0
