"""The engine boundary. Everything that speaks SQL to a workspace goes through an ``Engine``; the
DuckDB engine is the default (one file per workspace). A Spark engine over Parquet can implement the
same protocol later without the rest of Palermo changing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa


class Engine(Protocol):
    name: str

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table: ...

    def batches(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 100_000
    ) -> Iterator[pa.RecordBatch]: ...

    def register(self, name: str, table: pa.Table) -> None: ...

    def unregister(self, name: str) -> None: ...

    def transaction(self) -> Any: ...

    def close(self) -> None: ...
