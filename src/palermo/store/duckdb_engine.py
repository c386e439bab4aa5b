"""DuckDB engine: the workspace is one DuckDB file; the session is pinned to UTC."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from palermo.errors import PalermoError, WorkspaceLocked

# The engine's share of the 2 GB a 10M-row ingest may use: Python and Arrow add about 0.3 GB
# (peak RSS measured 1.28 GB at a 1 GB limit, 1.67-1.69 GB at 1.4 GB, which was up to 10% faster).
DEFAULT_MEMORY = "1.4GB"


class StoreQueryError(PalermoError):
    """A statement failed inside the store; carries the SQL for the log."""


class DuckDBEngine:
    name = "duckdb"

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        temp_dir: Path | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        # A bounded engine: large ingests spill to the workspace's tmp/ instead of growing RSS.
        config: dict[str, Any] = {"memory_limit": memory_limit or DEFAULT_MEMORY}
        if threads:
            config["threads"] = threads
        if temp_dir is not None and not read_only:
            config["temp_directory"] = str(temp_dir)
        # Nothing is ever fetched at run time: extensions must not autoload from the network.
        config["autoinstall_known_extensions"] = False
        try:
            self._conn: duckdb.DuckDBPyConnection | None = duckdb.connect(
                str(path), read_only=read_only, config=config
            )
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceLocked(
                    f"workspace database {path} is in use by another process: {exc}"
                ) from None
            raise
        # set after connecting: as a connect-time option it can be applied before ICU is loaded
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute("SET preserve_insertion_order = true")
        self._parent: DuckDBEngine | None = None  # a cursor's engine (see ``cursor``)
        self._in_transaction = False
        self._lock = threading.RLock()
        # one writer at a time among this engine and its cursors: two transactions appending to
        # the audit chain at once would both take the same sequence number
        self._write_lock = threading.RLock()
        self.audit_pending: list[tuple[Any, ...]] | None = None  # see audit.DEFERRABLE

    def cursor(self) -> DuckDBEngine:
        """An engine on a new connection to the same database, for one request of a server: its
        own temp tables and transactions (so one caller's scoped temp tables are never seen by
        another's), the same writer lock. Close it when the request is done."""
        other = object.__new__(DuckDBEngine)
        # connected at the first statement: most of a server's reads come from its in-memory
        # index (store/index.py) and need no connection at all
        other._conn, other._parent = None, self
        other._in_transaction = False
        other._lock = threading.RLock()
        other._write_lock = self._write_lock
        other.audit_pending = None
        return other

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            assert self._parent is not None
            conn = self._parent.conn.cursor()
            conn.execute("SET TimeZone = 'UTC'")
            self._conn = conn
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._lock:
            self._run(sql, params)

    def _run(self, sql: str, params: Sequence[Any] | None) -> duckdb.DuckDBPyConnection:
        try:
            return self.conn.execute(sql, params) if params is not None else self.conn.execute(sql)
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            raise StoreQueryError(f"{type(exc).__name__}: {exc}") from exc

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._run(sql, params).fetchall()

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self._lock:
            result = self._relation(sql, params).to_arrow_table()
            assert isinstance(result, pa.Table)
            return result

    def _relation(self, sql: str, params: Sequence[Any] | None) -> duckdb.DuckDBPyRelation:
        try:
            return self.conn.sql(sql, params=params)
        except duckdb.Error as exc:
            raise StoreQueryError(f"{type(exc).__name__}: {exc}") from exc

    def batches(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        with self._lock:
            reader = self._relation(sql, params).to_arrow_reader(batch_size)
        yield from reader

    def register(self, name: str, table: pa.Table) -> None:
        self.conn.register(name, table)

    def unregister(self, name: str) -> None:
        # After a failed statement the transaction is aborted and even cleanup fails; the
        # rollback that follows discards the registration anyway.
        with contextlib.suppress(duckdb.Error):
            self.conn.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside the block land together or not at all (a killed process included:
        DuckDB's write-ahead log replays only committed transactions)."""
        if self._in_transaction:
            yield
            return
        with self._write_lock:
            self.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self._in_transaction = False
                self.conn.execute("ROLLBACK")
                raise
            self._in_transaction = False
            self.execute("COMMIT")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
