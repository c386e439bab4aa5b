"""Typed errors. The CLI prints one line for each and exits non-zero; nothing shows a traceback."""

from __future__ import annotations


class PalermoError(Exception):
    """Base of every error Palermo raises on purpose."""

    exit_code = 1


class WorkspaceNotFound(PalermoError):
    """No workspace at the given path."""


class WorkspaceExists(PalermoError):
    """``init`` on a path that already holds a workspace."""


class WorkspaceLocked(PalermoError):
    """Another process holds the workspace open for writing."""


class SchemaTooNew(PalermoError):
    """The workspace was written by a newer Palermo than this one."""


class MappingError(PalermoError):
    """A mapping file is invalid, or does not fit the source file."""


class ManifestError(PalermoError):
    """A folder's ``manifest.json`` is invalid (nothing was ingested)."""


class SourceError(PalermoError):
    """A source file cannot be read at all (encoding, truncation, binary, missing columns)."""


class AccessDenied(PalermoError):
    """The caller is not entitled to the data or action asked for."""


class PartialIngest(PalermoError):
    """Some rows were quarantined and ``--allow-partial`` was not given (good rows still landed)."""

    exit_code = 3
