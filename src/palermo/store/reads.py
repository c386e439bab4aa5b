"""Reads the lenses need, each filtered by the caller's scope (compartments) in SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from palermo.model import event_kind
from palermo.store.workspace import Store


def status(store: Store) -> dict[str, Any]:
    """What is in the workspace, per source file and compartment."""
    cond, params = store.scope.sql_filter("r.compartment")
    runs = store.engine.rows(
        "SELECT r.run_id, r.kind, e.original_name, r.evidence_sha256, r.mapping, r.compartment,"
        " strftime(r.finished_at, '%Y-%m-%dT%H:%M:%SZ'), r.actor, r.rows_read, r.rows_stored,"
        " r.rows_duplicate, r.rows_quarantined, r.statements,"
        " (SELECT count(*) FROM quarantine q WHERE q.run_id = r.run_id AND q.status = 'open')"
        f" FROM ingest_runs r JOIN evidence e ON e.sha256 = r.evidence_sha256 WHERE {cond}"
        " ORDER BY r.run_id",
        params,
    )
    sources = [
        {
            "run_id": r[0],
            "kind": r[1],
            "file": r[2],
            "sha256": r[3],
            "mapping": r[4],
            "compartment": r[5],
            "finished_at": r[6],
            "actor": r[7],
            "rows_read": r[8],
            "rows_stored": r[9],
            "rows_duplicate": r[10],
            "rows_quarantined": r[11],
            "statements": r[12],
            "quarantine_open": r[13],
        }
        for r in runs
    ]
    scond, sparams = store.scope.sql_filter("compartment")
    per_compartment: dict[str, dict[str, Any]] = {}
    for compartment, schema, entities in store.engine.rows(
        "SELECT compartment, schema, count(DISTINCT entity_id) FROM statements"
        f" WHERE prop = 'id' AND {scond} GROUP BY ALL ORDER BY ALL",
        sparams,
    ):
        per_compartment.setdefault(compartment, {"entities": {}})["entities"][schema] = entities
    for table in ("payments", "calls"):
        for compartment, n in store.engine.rows(
            f"SELECT compartment, count(*) FROM {table} WHERE {scond} GROUP BY ALL", sparams
        ):
            per_compartment.setdefault(compartment, {"entities": {}})[table] = n
    for compartment, n in store.engine.rows(
        f"SELECT compartment, count(*) FROM quarantine WHERE status = 'open' AND {scond} GROUP BY ALL",
        sparams,
    ):
        per_compartment.setdefault(compartment, {"entities": {}})["quarantine_open"] = n
    totals = {
        "evidence_files": len({s["sha256"] for s in sources}),
        "entities": store.engine.rows(
            f"SELECT count(DISTINCT entity_id) FROM statements WHERE prop = 'id' AND {scond}",
            sparams,
        )[0][0],
        "statements": store.engine.rows(f"SELECT count(*) FROM statements WHERE {scond}", sparams)[
            0
        ][0],
        "payments": store.engine.rows(f"SELECT count(*) FROM payments WHERE {scond}", sparams)[0][
            0
        ],
        "calls": store.engine.rows(f"SELECT count(*) FROM calls WHERE {scond}", sparams)[0][0],
        "quarantine_open": store.engine.rows(
            f"SELECT count(*) FROM quarantine WHERE status = 'open' AND {scond}", sparams
        )[0][0],
    }
    version = store.engine.rows("SELECT max(version) FROM schema_version")[0][0]
    return {
        "workspace": str(store.root),
        "schema_version": version,
        "totals": totals,
        "compartments": per_compartment,
        "sources": sources,
    }


def quarantine(
    store: Store, *, status: str | None = "open", run_id: int | None = None
) -> list[dict[str, Any]]:
    cond, filter_params = store.scope.sql_filter("compartment")
    params: list[Any] = list(filter_params)
    sql = (
        "SELECT id, run_id, file_name, evidence_sha256, source_row, field, reason, errors, raw,"
        f" compartment, status, closed_by_run FROM quarantine WHERE {cond}"
    )
    if status:
        sql += " AND status = ?"
        params = [*params, status]
    if run_id is not None:
        sql += " AND run_id = ?"
        params = [*params, run_id]
    out = []
    for row in store.engine.rows(sql + " ORDER BY id", params):
        out.append(
            {
                "id": row[0],
                "run_id": row[1],
                "file": row[2],
                "sha256": row[3],
                "row": row[4],
                "field": row[5],
                "reason": row[6],
                "errors": json.loads(row[7]) if row[7] else [],
                "raw": row[8],
                "compartment": row[9],
                "status": row[10],
                "closed_by_run": row[11],
            }
        )
    return out


def entity_statements(store: Store, batch_size: int = 200_000) -> Iterator[list[tuple[Any, ...]]]:
    """Statements grouped per entity (entity_id, schema, prop, value), in entity order."""
    cond, params = store.scope.sql_filter("compartment")
    pending: list[tuple[Any, ...]] = []
    current = None
    for batch in store.engine.batches(
        "SELECT entity_id, schema, prop, value FROM statements"
        f" WHERE {cond} ORDER BY entity_id, prop, value",
        params,
        batch_size,
    ):
        for row in zip(*[c.to_pylist() for c in batch.columns], strict=True):
            if row[0] != current and pending:
                yield pending
                pending = []
            current = row[0]
            pending.append(row)
    if pending:
        yield pending


def events(store: Store, table: str, batch_size: int = 100_000) -> Iterator[dict[str, Any]]:
    if table not in ("payments", "calls"):
        raise ValueError(table)
    cond, params = store.scope.sql_filter("e.compartment")
    # entity keys back to entity ids: payer_key -> payer_id
    keys = [c.name for c in event_kind(table).columns if c.entity]
    ids = "".join(f", k{i}.entity_id AS {c.removesuffix('_key')}_id" for i, c in enumerate(keys))
    joins = "".join(f" LEFT JOIN entity_keys k{i} ON k{i}.key = e.{c}" for i, c in enumerate(keys))
    for batch in store.engine.batches(
        f"SELECT e.*{ids} FROM {table} e{joins} WHERE {cond} ORDER BY e.id", params, batch_size
    ):
        yield from batch.to_pylist()


def open_quarantine_mappings(store: Store, run_id: int | None = None) -> list[str]:
    """The mappings (origins) of the runs that still have open quarantined rows."""
    cond, filter_params = store.scope.sql_filter("q.compartment")
    params: list[Any] = list(filter_params)
    sql = (
        "SELECT DISTINCT r.mapping_origin FROM quarantine q JOIN ingest_runs r USING (run_id)"
        f" WHERE q.status = 'open' AND {cond}"
    )
    if run_id is not None:
        sql += " AND q.run_id = ?"
        params = [*params, run_id]
    return [row[0] for row in store.engine.rows(sql + " ORDER BY 1", params)]
