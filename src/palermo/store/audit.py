"""Append-only, hash-chained audit log: each row hashes the previous row's hash with its own
content, so any edit or deletion breaks the chain and ``verify`` finds where."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from palermo.store.engine import Engine

GENESIS = "0" * 64
#: reads whose record a server may write once at the end of the request, with the request's other
#: read records in one transaction (``flush``), instead of one commit each; a change to the
#: workspace is always recorded in the transaction of its effect
DEFERRABLE = frozenset({"search", "entity.read", "victims.reveal", "victims.read",
                        "findings.read_victims", "audit.read", "finance.trace"})  # fmt: skip


def _canonical(seq: int, at: str, actor: str, action: str, target: str | None, details: Any) -> str:
    return json.dumps(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


def append(
    engine: Engine, actor: str, action: str, target: str | None = None, details: Any = None
) -> int:
    """Append one audit record (call inside the transaction whose effect it records). A read
    (``DEFERRABLE``) on an engine collecting its request's records (``audit_pending``, set by the
    server) is kept there for ``flush``."""
    pending: list[tuple[Any, ...]] | None = getattr(engine, "audit_pending", None)
    if pending is not None and action in DEFERRABLE:
        pending.append((actor, action, target, details))
        return 0
    return _write(engine, [(actor, action, target, details)])


def record_read(
    engine: Engine, actor: str, action: str, target: str | None = None, details: Any = None
) -> None:
    """Record a read (``DEFERRABLE``): kept for the request's ``flush`` on a server's engine
    (no transaction now: the chain's writer lock stays free), else appended at once."""
    pending: list[tuple[Any, ...]] | None = getattr(engine, "audit_pending", None)
    if pending is not None and action in DEFERRABLE:
        pending.append((actor, action, target, details))
        return
    with engine.transaction():
        append(engine, actor, action, target, details)


def _write(engine: Engine, records: list[tuple[Any, ...]]) -> int:
    """Chain and insert records (one read of the chain's end, one INSERT); the last seq."""
    last = engine.rows("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
    seq, prev = (last[0][0], last[0][1]) if last else (0, GENESIS)
    params: list[Any] = []
    for actor, action, target, details in records:
        seq += 1
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        body = _canonical(seq, at, actor, action, target, details)
        digest = hashlib.sha256((prev + body).encode()).hexdigest()
        params += [seq, at, actor, action, target, json.dumps(details, default=str), prev, digest]
        prev = digest
    values = ", ".join(["(?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, ?)"] * len(records))
    engine.execute(f"INSERT INTO audit VALUES {values}", params)
    return int(seq)


def flush(engine: Engine, records: list[tuple[Any, ...]]) -> None:
    """Write a request's deferred read records in one transaction (before its response goes)."""
    if not records:
        return
    with engine.transaction():
        _write(engine, records)
    records.clear()


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(engine: Engine) -> AuditCheck:
    """Recompute the chain; report the first record that does not match."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for batch in engine.batches(
        "SELECT seq, strftime(\"at\", '%Y-%m-%dT%H:%M:%S.%f') || '+00:00', actor, action, target,"
        " details, prev_hash, hash FROM audit ORDER BY seq"
    ):
        for seq, at, actor, action, target, details, prev_hash, digest in zip(
            *[col.to_pylist() for col in batch.columns], strict=True
        ):
            count += 1
            if seq != expected_seq:
                return AuditCheck(False, count, seq, f"sequence gap: expected {expected_seq}")
            body = _canonical(seq, at, actor, action, target, json.loads(details))
            if prev_hash != prev or hashlib.sha256((prev + body).encode()).hexdigest() != digest:
                return AuditCheck(False, count, seq, "hash does not match the record")
            prev = digest
            expected_seq += 1
    return AuditCheck(True, count)
