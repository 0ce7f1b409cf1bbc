"""``pacedial users``: the people who log in to the floor and the agent desktop.

    pacedial users add NAME --role agent --seat 'PJSIP/8001' [--name 'Wang Fang']
    pacedial users add NAME --role supervisor --phone 'PJSIP/2001'
    pacedial users list
    pacedial users passwd NAME

Passwords are read from standard input (one line) when it is not a terminal, else asked for
twice without echo. The database is $PACEDIAL_DATABASE_URL, else the embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from dialer_core import accounts
from dialer_core.store import users as user_store
from dialer_core.store.database import open_database


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacedial users", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a person who can log in")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=user_store.ROLES)
    add.add_argument("--name", default="", help="display name shown on the floor")
    add.add_argument("--seat", default=None, help="agents: queue member interface / agent name")
    add.add_argument("--phone", default=None, help="supervisors: the phone to listen in from")
    sub.add_parser("list", help="everyone who can log in")
    pw = sub.add_parser("passwd", help="set a new password (unlocks, ends sessions)")
    pw.add_argument("username")
    return parser


def read_password() -> str:
    """One line from a pipe, or asked twice on a terminal."""
    stdin = sys.stdin
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise accounts.WeakPassword("password: the two entries differ")
    return first


async def _run(args: argparse.Namespace) -> int:
    password_hash = None
    if args.action in ("add", "passwd"):
        password_hash = accounts.hash_password(read_password())
    async with open_database() as pool, pool.acquire() as conn:
        if args.action == "add":
            user = await user_store.create_user(
                conn,
                args.username.strip().lower(),
                args.role,
                password_hash,
                display_name=args.name,
                pbx_agent=args.seat,
                phone=args.phone,
            )
            print(
                f"{user.username}: {user.role}" + (f", seat {user.pbx_agent}" if args.seat else "")
            )
        elif args.action == "passwd":
            await user_store.set_password(conn, args.username, password_hash)
            print(f"{args.username}: password changed, sessions ended")
        else:
            for u in await user_store.list_users(conn):
                seat = u.pbx_agent or "-"
                state = "" if u.active else " (inactive)"
                print(f"{u.username:<20} {u.role:<16} {seat:<32} {u.display_name}{state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; ``argv`` excludes the ``users`` word. Returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(_run(args))
    except (accounts.WeakPassword, user_store.UserError) as exc:
        print(f"pacedial users: {exc}", file=sys.stderr)
        return 2
