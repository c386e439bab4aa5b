"""Palermo: one investigation workspace for every source, with provenance kept for every value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from palermo.api_python import Workspace


def open(path: str | Path, *, create: bool = False, actor: str | None = None) -> Workspace:  # noqa: A001
    """Open the workspace at ``path`` (``create=True`` makes it if missing) for notebook use."""
    from palermo.api_python import Workspace

    return Workspace.open(path, create=create, actor=actor)


def init(path: str | Path, *, actor: str | None = None) -> Workspace:
    """Create a new workspace at ``path`` and return it."""
    from palermo.api_python import Workspace

    return Workspace.init(path, actor=actor)


__all__ = ["__version__", "init", "open"]
