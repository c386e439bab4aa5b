"""A workspace on disk: ``palermo.duckdb`` (the store), ``evidence/`` (raw files, content-addressed
by SHA-256, read-only) and ``tmp/`` (engine spill space). Opening a workspace migrates its schema and
finishes or discards any evidence copy a killed ingest left half-way."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from palermo.errors import WorkspaceExists, WorkspaceNotFound
from palermo.store import audit
from palermo.store.access import Scope
from palermo.store.duckdb_engine import DuckDBEngine
from palermo.store.migrations import migrate

DB_NAME = "palermo.duckdb"
CHUNK = 8 << 20


@dataclass
class StoredFile:
    sha256: str
    size: int
    incoming: Path
    syncing: threading.Thread | None = None  # flushing the copy to disk (see ``durable``)
    sync_error: list[BaseException] = field(default_factory=list)

    def durable(self) -> None:
        """Wait until the copy is on disk; call before committing the transaction that records
        it (a committed record of evidence that a crash lost would break the chain of custody)."""
        if self.syncing is not None:
            self.syncing.join()
            self.syncing = None
        if self.sync_error:
            raise self.sync_error[0]


class Store:
    """The one owner of a workspace's data. Analyses and lenses ask it; nothing else writes SQL."""

    def __init__(self, root: Path, engine: DuckDBEngine, scope: Scope) -> None:
        self.root = root
        self.engine = engine
        self.scope = scope

    # -- paths -------------------------------------------------------------------------------
    @property
    def evidence_dir(self) -> Path:
        return self.root / "evidence"

    @property
    def incoming_dir(self) -> Path:
        return self.evidence_dir / ".incoming"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def evidence_path(self, sha256: str) -> Path:
        return self.evidence_dir / sha256[:2] / sha256

    # -- life cycle --------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, scope: Scope, **engine_options: Any) -> Store:
        root = Path(root)
        if (root / DB_NAME).exists():
            raise WorkspaceExists(f"{root} already holds a workspace")
        if root.exists() and any(root.iterdir()):
            raise WorkspaceExists(f"{root} exists and is not empty; choose a new folder")
        for sub in ("evidence/.incoming", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        store = cls._connect(root, scope, read_only=False, **engine_options)
        with store.engine.transaction():
            audit.append(store.engine, scope.actor, "workspace.init", str(root.resolve()))
        return store

    @classmethod
    def open(
        cls, root: Path, scope: Scope, *, read_only: bool = False, **engine_options: Any
    ) -> Store:
        root = Path(root)
        if not (root / DB_NAME).exists():
            raise WorkspaceNotFound(
                f"no workspace at {root} (create one with: palermo init {root})"
            )
        store = cls._connect(root, scope, read_only=read_only, **engine_options)
        if not read_only:
            store.recover_incoming()
        return store

    @classmethod
    def _connect(cls, root: Path, scope: Scope, *, read_only: bool, **engine_options: Any) -> Store:
        (root / "tmp").mkdir(exist_ok=True) if not read_only else None
        engine = DuckDBEngine(
            root / DB_NAME, read_only=read_only, temp_dir=root / "tmp", **engine_options
        )
        if not read_only:
            migrate(engine)
        return cls(root, engine, scope)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- evidence ----------------------------------------------------------------------------
    def receive_file(self, source: Path) -> StoredFile:
        """Copy a source file into ``evidence/.incoming`` while hashing it: what is analysed is
        exactly the copy whose hash is recorded, even if the original changes afterwards."""
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.incoming_dir / f"partial-{os.getpid()}-{id(source)}"
        # A kernel-side copy (sendfile), then the hash of the copy itself: what is hashed is
        # what is analysed, and this is twice as fast as hashing while copying in Python.
        shutil.copyfile(source, tmp)
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "rb") as copy:
            while chunk := copy.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
        incoming = self.incoming_dir / sha
        fd = os.open(tmp, os.O_RDONLY)
        os.replace(tmp, incoming)
        stored = StoredFile(sha, size, incoming)

        def flush() -> None:  # to disk while the file is loaded; ``durable`` waits for it
            try:
                os.fsync(fd)
            except OSError as exc:  # pragma: no cover - a failing disk
                stored.sync_error.append(exc)
            finally:
                os.close(fd)

        stored.syncing = threading.Thread(target=flush, name="palermo-evidence-fsync")
        stored.syncing.start()
        return stored

    def settle_file(self, stored: StoredFile) -> Path:
        """After the transaction that records it has committed: move the copy to its final place."""
        stored.durable()
        final = self.evidence_path(stored.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            stored.incoming.unlink(missing_ok=True)
        else:
            os.replace(stored.incoming, final)
            final.chmod(0o444)
        return final

    def discard_file(self, stored: StoredFile) -> None:
        with contextlib.suppress(OSError):
            stored.durable()
        stored.incoming.unlink(missing_ok=True)

    def recover_incoming(self) -> None:
        """Finish the move of copies whose transaction committed; drop those whose did not."""
        if not self.incoming_dir.exists():
            return
        known = {row[0] for row in self.engine.rows("SELECT sha256 FROM evidence")}
        for item in self.incoming_dir.iterdir():
            if item.name in known:
                self.settle_file(StoredFile(item.name, item.stat().st_size, item))
            else:
                item.unlink()

    def open_evidence(self, sha256: str) -> BinaryIO:
        return open(self.evidence_path(sha256), "rb")

    def copy_evidence(self, sha256: str, dest: Path) -> None:
        shutil.copyfile(self.evidence_path(sha256), dest)
