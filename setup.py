"""The package list: the code, plus the data-only packages that pyproject.toml's package-dir
maps onto the repository's top-level ``sql/`` and ``conf/`` (so a wheel carries them)."""

from setuptools import find_packages, setup

SHIPPED = ["dialer_core.shipped.sql", "dialer_core.shipped.conf"]

setup(packages=find_packages(include=["pbx*", "dialer_core*", "agi_scripts*"]) + SHIPPED)
