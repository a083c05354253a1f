"""Installed versions of the libraries reportgen depends on: the one place they are read."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import metadata


@cache
def version(distribution: str) -> str | None:
    """A distribution's installed version, or None; read once per process (a metadata read takes about 1 ms, and run
    keys ask four times per run)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed(distributions: Iterable[str]) -> dict[str, str]:
    """The versions of those of the distributions that are installed, in the order given."""
    return {name: v for name in distributions if (v := version(name)) is not None}
