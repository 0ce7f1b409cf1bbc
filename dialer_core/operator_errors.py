"""Failures a person causes and can fix: one line (what, where, what to do), a distinct exit code.

The ``pacedial`` command prints ``pacedial: <message>`` on stderr and exits with the code of the
error's kind, so scripts and cron jobs can tell them apart (docs/deploy.md lists them).
"""

from __future__ import annotations

EXIT_INPUT = 2  # a config file, CSV header or argument is wrong (argparse's usage code too)
EXIT_ROWS_REJECTED = 3  # an import finished, but some rows were rejected
EXIT_NO_FILE = 4  # a file named on the command line or in a config is missing or unreadable
EXIT_PBX_UNREACHABLE = 5  # no TCP connection to AMI / ESL
EXIT_PBX_LOGIN = 6  # the PBX refused our login (AMI secret, ESL password, ACL)
EXIT_PORT_IN_USE = 7  # a port we must listen on is taken
EXIT_NOT_LOOPBACK = 8  # refused to listen off loopback without authentication
EXIT_DATABASE = 9  # PostgreSQL cannot be reached or refused us
EXIT_INSTALL = 10  # the installation is broken (package data missing)
EXIT_CHECK_FAILED = 11  # `pbx check` found a failing item


class OperatorError(Exception):
    """``what: where; what to do`` — the one line an operator reads, with an exit code."""

    exit_code = 1

    def __init__(self, what: str, where: str, todo: str) -> None:
        super().__init__(f"{what}: {where}; {todo}")
        self.what, self.where, self.todo = what, where, todo


class FileMissing(OperatorError):
    exit_code = EXIT_NO_FILE


class PbxUnreachable(OperatorError):
    exit_code = EXIT_PBX_UNREACHABLE


class PbxLoginRefused(OperatorError):
    exit_code = EXIT_PBX_LOGIN


class PortInUse(OperatorError):
    exit_code = EXIT_PORT_IN_USE


class NotLoopback(OperatorError):
    exit_code = EXIT_NOT_LOOPBACK


class DatabaseUnreachable(OperatorError):
    exit_code = EXIT_DATABASE


class BrokenInstall(OperatorError):
    exit_code = EXIT_INSTALL


def file_missing(path: str, exc: OSError, what: str) -> FileMissing:
    """The error for a file that cannot be opened (``what``: "the CSV file", "site file"...)."""
    reason = exc.strerror or type(exc).__name__
    return FileMissing(f"cannot read {what}", f"{path} ({reason.lower()})", "check the path")
