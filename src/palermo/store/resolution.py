"""The store's side of entity resolution: person records for the model (within the caller's scope),
the results of a run, the review queue and people's decisions, each write audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from palermo.errors import PalermoError
from palermo.store import audit
from palermo.store.workspace import Store

#: Person properties read for resolution -> the linkage field they feed.
PERSON_FIELDS = {
    "name": "full_name",
    "firstName": "first_name",
    "lastName": "last_name",
    "birthDate": "date_of_birth",
    "gender": "gender",
    "nationality": "nationality",
    "phone": "phone",
    "idNumber": "id_number",
    "passportNumber": "id_number",
    "address": "address",
}


def person_records(store: Store) -> pa.Table:
    """One row per Person entity the caller may see: entity_id and the linkage fields (the first
    value of each property, in value order: deterministic)."""
    cond, params = store.scope.sql_filter("compartment")
    fields = sorted(set(PERSON_FIELDS.values()))
    props = {f: [p for p, g in PERSON_FIELDS.items() if g == f] for f in fields}
    cols = ", ".join(
        f"min(value) FILTER (WHERE prop IN ({', '.join(repr(p) for p in ps)})) AS {f}"
        for f, ps in props.items()
    )
    return store.engine.arrow(
        f"SELECT entity_id, {cols} FROM statements WHERE schema = 'Person' AND {cond}"
        " GROUP BY entity_id ORDER BY entity_id",
        params,
    )


def company_records(store: Store) -> pa.Table:
    """One row per Company / Organization the caller may see, and per LegalEntity whose name has
    a legal form (an account holder such as 'SMITH FARM LTD'): entity_id, name, jurisdiction,
    registration_number, address."""
    from palermo.resolve.companies import looks_like_organisation

    cond, params = store.scope.sql_filter("compartment")
    table = store.engine.arrow(
        "SELECT entity_id, any_value(schema) AS schema,"
        " min(value) FILTER (WHERE prop = 'name') AS name,"
        " min(value) FILTER (WHERE prop IN ('jurisdiction', 'country')) AS jurisdiction,"
        " min(value) FILTER (WHERE prop = 'registrationNumber') AS registration_number,"
        " min(value) FILTER (WHERE prop = 'address') AS address"
        " FROM statements WHERE schema IN ('Company', 'Organization', 'LegalEntity')"
        f" AND {cond} GROUP BY entity_id ORDER BY entity_id",
        params,
    )
    keep = [
        schema != "LegalEntity" or looks_like_organisation(name)
        for schema, name in zip(table["schema"].to_pylist(), table["name"].to_pylist(), strict=True)
    ]
    return table.filter(pa.array(keep, pa.bool_())).drop_columns(["schema"])


def address_values(store: Store) -> list[str]:
    """Every distinct address written in the sources the caller may see."""
    cond, params = store.scope.sql_filter("compartment")
    return [
        r[0]
        for r in store.engine.rows(
            f"SELECT DISTINCT value FROM statements WHERE prop = 'address' AND {cond}", params
        )
    ]


def entity_summary(store: Store, entity_id: str) -> dict[str, list[str]]:
    """An entity's properties (the caller's scope): {prop: [values]}; raises if not visible."""
    cond, params = store.scope.sql_filter("compartment")
    rows = store.engine.rows(
        "SELECT prop, list(DISTINCT value ORDER BY value) FROM statements"
        f" WHERE entity_id = ? AND prop <> 'id' AND {cond} GROUP BY prop ORDER BY prop",
        [entity_id, *params],
    )
    if not rows:
        raise PalermoError(
            f"no entity {entity_id!r} in this workspace (or not in your compartments)"
        )
    sources = store.engine.rows(
        "SELECT DISTINCT e.original_name || ':' || s.source_row FROM statements s"
        " JOIN evidence e ON e.sha256 = s.evidence_sha256"
        f" WHERE s.entity_id = ? AND {cond.replace('compartment', 's.compartment')} ORDER BY 1",
        [entity_id, *params],
    )
    out = {prop: list(values) for prop, values in rows}
    out["_sources"] = [r[0] for r in sources]
    return out


def decisions(store: Store) -> dict[tuple[str, str], str]:
    """The standing decision per pair (accept / reject); an undo clears it."""
    out: dict[tuple[str, str], str] = {}
    for left, right, decision in store.engine.rows(
        "SELECT left_id, right_id, decision FROM resolution_decisions ORDER BY seq"
    ):
        if decision == "undo":
            out.pop((left, right), None)
        else:
            out[(left, right)] = decision
    return out


def decide(store: Store, a: str, b: str, decision: str, note: str | None = None) -> None:
    """Record a person's decision on a pair (both entities must be visible to them); audited."""
    if decision not in ("accept", "reject", "undo"):
        raise PalermoError(f"unknown decision {decision!r}")
    if a == b:
        raise PalermoError("a pair needs two different entities")
    left, right = sorted((a, b))
    entity_summary(store, left)
    entity_summary(store, right)
    with store.engine.transaction():
        last = store.engine.rows("SELECT coalesce(max(seq), 0) FROM resolution_decisions")
        store.engine.execute(
            "INSERT INTO resolution_decisions VALUES (?, ?, ?, ?, ?, ?::TIMESTAMPTZ, ?)",
            [last[0][0] + 1, left, right, decision, store.scope.actor,
             datetime.now(UTC).isoformat(), note],
        )  # fmt: skip
        audit.append(
            store.engine,
            store.scope.actor,
            f"resolve.{decision}",
            f"{left}|{right}",
            {"note": note},
        )


def next_run_id(store: Store) -> int:
    rows = store.engine.rows("SELECT coalesce(max(run_id), 0) + 1 FROM resolution_runs")
    return int(rows[0][0])


def save_run(
    store: Store,
    run_id: int,
    parameters: dict[str, Any],
    summary: dict[str, Any],
    pairs: pa.Table,
    clusters: pa.Table,
    addresses: pa.Table | None = None,
) -> None:
    """Replace the current resolution with this run's (history: resolution_runs and the audit)."""
    with store.engine.transaction():
        store.engine.execute("DELETE FROM resolution_pairs")
        store.engine.execute("DELETE FROM resolution")
        store.engine.execute("DELETE FROM address_resolution")
        if addresses is not None and addresses.num_rows:
            store.engine.register("_addresses", addresses)
            try:
                store.engine.execute(
                    "INSERT INTO address_resolution SELECT address, address_id, fingerprint, score,"
                    " ? FROM _addresses",
                    [run_id],
                )
            finally:
                store.engine.unregister("_addresses")
        store.engine.register("_pairs", pairs)
        store.engine.register("_clusters", clusters)
        try:
            store.engine.execute(
                "INSERT INTO resolution_pairs SELECT left_id, right_id, kind, match_probability,"
                " match_weight, levels::JSON, status, ? FROM _pairs",
                [run_id],
            )
            store.engine.execute(
                "INSERT INTO resolution SELECT entity_id, cluster_id, kind, match_probability,"
                " match_weight, decided_by, deciding_comparison, evidence::JSON, ? FROM _clusters",
                [run_id],
            )
        finally:
            store.engine.unregister("_pairs")
            store.engine.unregister("_clusters")
        store.engine.execute(
            "INSERT INTO resolution_runs VALUES (?, ?, ?::TIMESTAMPTZ, ?::JSON, ?::JSON)",
            [run_id, store.scope.actor, datetime.now(UTC).isoformat(), json.dumps(parameters),
             json.dumps(summary)],
        )  # fmt: skip
        audit.append(store.engine, store.scope.actor, "resolve.run", str(run_id), summary)


def review_queue(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Pairs waiting for a person, most probable first, with both sides' evidence."""
    rows = store.engine.rows(
        "SELECT left_id, right_id, match_probability, match_weight, levels FROM resolution_pairs"
        " WHERE status = 'review' ORDER BY match_probability DESC, left_id, right_id LIMIT ?",
        [limit],
    )
    out = []
    for left, right, p, w, levels in rows:
        try:
            out.append({
                "left": {"id": left, **entity_summary(store, left)},
                "right": {"id": right, **entity_summary(store, right)},
                "match_probability": p, "match_weight": w, "levels": json.loads(levels),
            })  # fmt: skip
        except PalermoError:
            continue  # one side is outside the caller's compartments: not shown
    return out


def clusters_of(store: Store) -> dict[str, str]:
    """entity id -> cluster id of the current resolution."""
    return {e: c for e, c in store.engine.rows("SELECT entity_id, cluster_id FROM resolution")}


def entity_rows(store: Store, kind: str) -> list[tuple[str, str, int]]:
    """(entity id, source file name, row) for every statement of entities of ``kind``."""
    cond, params = store.scope.sql_filter("s.compartment")
    return [
        (e, f, int(r))
        for e, f, r in store.engine.rows(
            "SELECT DISTINCT s.entity_id, e.original_name, s.source_row FROM statements s"
            " JOIN evidence e ON e.sha256 = s.evidence_sha256"
            f" WHERE s.schema = ? AND s.source_row IS NOT NULL AND {cond}",
            [kind, *params],
        )
    ]
