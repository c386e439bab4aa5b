"""Compartments and the caller's scope. Every read the store serves is filtered by the scope here,
so no lens (CLI, API, UI) can show what the caller is not entitled to."""

from __future__ import annotations

import re
from dataclasses import dataclass

from palermo.errors import AccessDenied

#: roles that see victims' names (every such read is audited); everyone else sees pseudonyms
VICTIM_NAME_ROLES = frozenset({"victim-support", "investigator", "prosecutor", "inspector"})
ROLES = frozenset({"admin", "analyst", "investigator", "prosecutor", "victim-support",
                   "inspector", "partner"})  # fmt: skip
_COMPARTMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


def check_compartment_name(name: str) -> str:
    if not _COMPARTMENT.match(name):
        raise AccessDenied(
            f"invalid compartment name {name!r}: letters, digits and . _ : / - (max 128)"
        )
    return name


@dataclass(frozen=True)
class Scope:
    """Who is asking, and which compartments they may see (``None``: all, the local owner)."""

    actor: str
    compartments: frozenset[str] | None = None
    role: str | None = None  # None: the workspace's local owner
    #: the grants hold every compartment the workspace has (set by the server, checked against
    #: the workspace when the request starts): reads need no filter. Writes still label with the
    #: grants (``findings.compartment_label``)
    covers_all: bool = False

    @property
    def sees_victim_names(self) -> bool:
        """Whether victims' names are shown to this caller (else pseudonyms). The local owner and
        the roles that work with victims face to face do; analysts and partners do not."""
        return self.role is None or self.role in VICTIM_NAME_ROLES

    def sql_filter(self, column: str = "compartment") -> tuple[str, list[str]]:
        """A SQL condition and its parameters restricting rows to the caller's compartments."""
        if self.compartments is None or self.covers_all:
            return "TRUE", []
        if not self.compartments:
            return "FALSE", []
        marks = ", ".join("?" for _ in self.compartments)
        return f"{column} IN ({marks})", sorted(self.compartments)

    def require(self, compartment: str) -> None:
        if self.compartments is not None and compartment not in self.compartments:
            raise AccessDenied(f"{self.actor} has no grant for compartment {compartment!r}")
