"""The files pacedial ships beside its code: migrations (``sql/``) and configs (``conf/``).

In an installed wheel they are package data under ``dialer_core/shipped/``, found with
importlib.resources; in a source checkout (editable install, PYTHONPATH) they are the
repository's top-level folders, the one source both are made from.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from dialer_core.config_errors import InputError

SHIPPED = ("sql", "conf")


class MissingPackageData(InputError):
    """A shipped folder is absent: a broken installation, never "nothing to do"."""


def shipped_dir(name: str) -> Path:
    """The folder ``name`` ("sql" or "conf") as installed; raises MissingPackageData if absent."""
    if name not in SHIPPED:
        raise ValueError(f"not a shipped folder: {name!r}")
    package = files("dialer_core")
    installed = package / "shipped" / name
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    checkout = Path(str(package)).parent / name
    if (checkout.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    raise MissingPackageData(
        f"{installed}: the shipped {name}/ folder is missing from this installation; "
        "reinstall pacedial (pip install --force-reinstall pacedial)"
    )


def conf_path(*parts: str) -> Path:
    """A file or folder under the shipped ``conf/`` (e.g. ``conf_path("robot")``)."""
    return shipped_dir("conf").joinpath(*parts)
