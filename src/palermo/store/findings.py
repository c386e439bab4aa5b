"""Findings: what analyses conclude (a key player, a broker, a role, a cell), each with the rule or
model behind it, its parameters, the code version and the evidence rows that prove it.

An analysis replaces its own earlier findings (same kind prefix, same compartment label) in one
transaction, audited. A finding's compartment is the caller's compartments joined with ``+``
(``*`` for an unscoped owner): it was drawn from all of them, so only someone who may see each of
them sees it (``Scope.sql_filter`` on the label is exact-match, hence conservative).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from palermo import __version__
from palermo.store import audit
from palermo.store.workspace import Store


@dataclass
class Finding:
    kind: str  # e.g. network.key_player
    subject_ids: list[str]
    score: float | None
    explanation: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


def compartment_label(store: Store) -> str:
    comps = store.scope.compartments
    return "*" if comps is None else "+".join(sorted(comps))


def finding_id(f: Finding, compartment: str) -> str:
    key = json.dumps([f.kind, f.subject_ids, compartment], sort_keys=True)
    return hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()


def replace(store: Store, prefix: str, findings: list[Finding], run: dict[str, Any]) -> int:
    """Replace the findings of kinds ``prefix*`` in the caller's compartment label with these."""
    comp = compartment_label(store)
    now = datetime.now(UTC).isoformat()
    rows = {
        "id": [], "kind": [], "subject_ids": [], "score": [], "explanation": [], "evidence": [],
        "parameters": [],
    }  # type: dict[str, list[Any]]  # fmt: skip
    seen: set[str] = set()
    for f in findings:
        fid = finding_id(f, comp)
        if fid in seen:
            continue
        seen.add(fid)
        rows["id"].append(fid)
        rows["kind"].append(f.kind)
        rows["subject_ids"].append(f.subject_ids)
        rows["score"].append(f.score)
        rows["explanation"].append(f.explanation)
        rows["evidence"].append(json.dumps(f.evidence, ensure_ascii=False, default=str))
        rows["parameters"].append(json.dumps(f.parameters, ensure_ascii=False, default=str))
    table = pa.table(
        rows,
        schema=pa.schema([
            ("id", pa.string()), ("kind", pa.string()), ("subject_ids", pa.list_(pa.string())),
            ("score", pa.float64()), ("explanation", pa.string()), ("evidence", pa.string()),
            ("parameters", pa.string()),
        ]),
    )  # fmt: skip
    with store.engine.transaction():
        store.engine.execute(
            "DELETE FROM findings WHERE starts_with(kind, ?) AND compartment = ?", [prefix, comp]
        )
        store.engine.register("_findings", table)
        try:
            store.engine.execute(
                "INSERT INTO findings SELECT id, kind, subject_ids, score, explanation,"
                " evidence::JSON, parameters::JSON, ?, ?, ?::TIMESTAMPTZ, NULL FROM _findings",
                [__version__, comp, now],
            )
        finally:
            store.engine.unregister("_findings")
        audit.append(
            store.engine, store.scope.actor, "findings.replace", prefix,
            {"findings": table.num_rows, "compartment": comp, **run},
        )  # fmt: skip
    return int(table.num_rows)


def workspace_compartments(store: Store) -> frozenset[str]:
    """Every compartment that holds data in the workspace (kept on the open store)."""
    cached: frozenset[str] | None = getattr(store, "_compartments", None)
    if cached is not None:
        return cached
    rows = store.engine.rows(
        "SELECT DISTINCT compartment FROM statements UNION SELECT DISTINCT compartment FROM"
        " payments UNION SELECT DISTINCT compartment FROM calls"
    )
    store._compartments = frozenset(str(r[0]) for r in rows)  # type: ignore[attr-defined]
    return store._compartments  # type: ignore[attr-defined,no-any-return]


ORDER = "kind, score DESC NULLS LAST, id"
COLUMNS = ("id, kind, subject_ids, score, explanation, evidence, parameters, code_version,"
           " compartment, created_at")  # fmt: skip


def read(
    store: Store, prefix: str = "", subject: str | None = None, subjects: list[str] | None = None
) -> list[dict[str, Any]]:
    """Findings the caller may see (exact compartment label match), highest score first; about
    ``subject`` or any of ``subjects`` when given."""
    cond, filter_params = store.scope.sql_filter("compartment")
    params: list[Any] = list(filter_params)
    if store.scope.compartments is not None:
        # a finding drawn from several compartments is visible to who holds all of them; one
        # the owner drew from the whole workspace ('*'), to who holds every compartment in it
        cond = f"({cond} OR list_has_all(?::VARCHAR[], string_split(compartment, '+'))"
        params = [*params, sorted(store.scope.compartments)]
        if store.scope.compartments >= workspace_compartments(store):
            cond += " OR compartment = '*'"
        cond += ")"
    sql = f"SELECT {COLUMNS} FROM findings WHERE starts_with(kind, ?) AND {cond}"
    args: list[Any] = [prefix, *params]
    if subject is not None:
        sql += " AND list_contains(subject_ids, ?)"
        args.append(subject)
    if subjects is not None:
        sql += " AND list_has_any(subject_ids, ?::VARCHAR[])"
        args.append(sorted(set(subjects)))
    out = [as_dict(r) for r in store.engine.rows(sql + f" ORDER BY {ORDER}", args)]
    audit_victims(store, out, prefix or "*")
    return out


def as_dict(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": r[0], "kind": r[1], "subject_ids": list(r[2]), "score": r[3],
        "explanation": r[4], "evidence": json.loads(r[5]) if r[5] else [],
        "parameters": json.loads(r[6]) if r[6] else {}, "code_version": r[7],
        "compartment": r[8], "created_at": str(r[9]),
    }  # fmt: skip


def visible(store: Store, label: str) -> bool:
    """``read``'s condition in Python, for one finding's compartment label."""
    allowed = store.scope.compartments
    if allowed is None or store.scope.covers_all or label in allowed:
        return True
    if set(label.split("+")) <= allowed:
        return True
    return label == "*" and allowed >= workspace_compartments(store)


def audit_victims(store: Store, found: list[dict[str, Any]], target: str) -> None:
    """Who is a possible victim is victim data: every read of it is audited."""
    victims = [
        f["subject_ids"][0]
        for f in found
        if f["kind"] == "network.role.victim" or f["kind"].startswith("victims.")
    ]
    if victims:
        audit.record_read(
            store.engine, store.scope.actor, "findings.read_victims", target,
            {"victims": len(victims), "subjects": victims[:50]},
        )  # fmt: skip
