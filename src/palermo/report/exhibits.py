"""The case file's chain of custody: which evidence rows a report cites, the files they come
from (each with its SHA-256, re-hashed from the evidence store when the report is made), when
and by whom each file was ingested, which findings rely on it, and the stored rows themselves.

Analyses cite evidence as ``FILE:ROW`` (the file's name as it was ingested and its row); a tie
built from two rows cites ``A:1 + B:2``. A name two ingested files share is resolved by the row:
the cited row is looked up in every file of that name the caller may see."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from palermo.store import lens
from palermo.store.workspace import Store

REF = re.compile(r"([^\s\"';:+>,]+):(\d+)")
ROWS_SHOWN = 4000  # evidence rows printed in the appendix (all of them are counted)


def refs_in(data: Any, names: frozenset[str]) -> set[tuple[str, int]]:
    """Every ``FILE:ROW`` inside ``data`` (strings in nested lists and dicts) whose file is one
    of ``names``."""
    found: set[tuple[str, int]] = set()
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    for m in REF.finditer(text):
        if m.group(1) in names:
            found.add((m.group(1), int(m.group(2))))
    return found


def file_names(store: Store) -> frozenset[str]:
    """Names of the evidence files with an ingest run in the caller's compartments."""
    cond, params = store.scope.sql_filter("r.compartment")
    rows = store.engine.rows(
        "SELECT DISTINCT e.original_name FROM evidence e JOIN ingest_runs r"
        f" ON r.evidence_sha256 = e.sha256 WHERE {cond}",
        params,
    )
    return frozenset(str(r[0]) for r in rows)


def sha256_of(path: Any) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def exhibits(
    store: Store, cited: dict[tuple[str, int], set[str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the files cited, with the findings relying on each; the caller's other files).
    ``cited``: (file, row) -> ids of the report's statements and findings citing it."""
    cond, params = store.scope.sql_filter("r.compartment")
    rows = store.engine.rows(
        f"""SELECT e.sha256, e.original_name, e.size_bytes, e.stored_path,
          strftime(e.received_at, '%Y-%m-%d %H:%M:%S UTC'), e.received_by,
          list({{'run': r.run_id, 'kind': r.kind, 'mapping': r.mapping, 'actor': r.actor,
                 'at': strftime(r.started_at, '%Y-%m-%d %H:%M:%S UTC'), 'compartment': r.compartment,
                 'rows_stored': r.rows_stored, 'rows_quarantined': r.rows_quarantined,
                 'code_version': r.code_version}} ORDER BY r.run_id)
        FROM evidence e JOIN ingest_runs r ON r.evidence_sha256 = e.sha256 WHERE {cond}
        GROUP BY ALL ORDER BY 2, 5, 1""",
        params,
    )
    relied: dict[str, set[str]] = {}
    rows_cited: dict[str, int] = {}
    for (name, _row), by in cited.items():
        relied.setdefault(name, set()).update(by)
        rows_cited[name] = rows_cited.get(name, 0) + 1
    used: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    for n, (sha, name, size, stored, received, by, runs) in enumerate(rows, start=1):
        path = store.root / stored
        actual = sha256_of(path) if path.exists() else None
        item = {
            "exhibit": n, "sha256": sha, "name": name, "size_bytes": int(size),
            "received_at": received, "received_by": by, "runs": list(runs),
            "verified": actual == sha, "actual_sha256": actual,
            "relied_on_by": sorted(relied.get(name, set())), "rows_cited": rows_cited.get(name, 0),
        }  # fmt: skip
        (used if name in relied else other).append(item)
    for k, item in enumerate(used, start=1):
        item["exhibit"] = k
    return used, other


def rows_of(store: Store, refs: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """The stored rows behind each cited ``FILE:ROW`` (statements, payments and calls) within
    the caller's compartments, in file and row order; a possible victim's identifying values
    withheld from who may not see them (as on the entity page)."""
    wanted = sorted(set(refs))
    if not wanted:
        return []
    table = pa.table({"name": [w[0] for w in wanted], "row": [w[1] for w in wanted]})
    cond, params = store.scope.sql_filter("t.compartment")
    e = store.engine
    e.register("_cited", table)
    try:
        found = e.rows(
            f"""WITH c AS (
              SELECT c.name, c.row, ev.sha256 FROM _cited c JOIN evidence ev
              ON ev.original_name = c.name)
            SELECT c.name, c.row, c.sha256, 'statement' AS kind, t.entity_id AS id,
              t.schema || '.' || t.prop AS what, t.value AS value, t.compartment
              FROM c JOIN statements t ON t.evidence_sha256 = c.sha256 AND t.source_row = c.row
              WHERE t.prop <> 'id' AND {cond}
            UNION ALL
            SELECT c.name, c.row, c.sha256, 'payment', t.id, t.occurred_at::VARCHAR,
              concat_ws(' | ', coalesce(t.payer_account, '?') || ' -> '
                  || coalesce(t.payee_account, '?'),
                printf('%.2f', t.amount) || ' ' || t.currency, t.payment_type, t.reference),
              t.compartment
              FROM c JOIN payments t ON t.evidence_sha256 = c.sha256 AND t.source_row = c.row
              WHERE {cond}
            UNION ALL
            SELECT c.name, c.row, c.sha256, 'call', t.id, t.started_at::VARCHAR,
              concat_ws(' | ', t.caller || ' -> ' || t.callee,
                        coalesce(t.duration_s::VARCHAR || ' s', ''), t.call_type),
              t.compartment
              FROM c JOIN calls t ON t.evidence_sha256 = c.sha256 AND t.source_row = c.row
              WHERE {cond}
            ORDER BY 1, 2, 3, 4, 5, 6, 7""",
            [*params, *params, *params],
        )
    finally:
        e.unregister("_cited")
    protected = lens.protected_entities(store)
    out = []
    for name, row, sha, kind, ident, what, value, comp in found:
        shown = value
        prop = str(what).split(".", 1)[-1]
        hidden = kind == "statement" and ident in protected and lens.hides(store, ident)
        if hidden and prop in lens.PROTECTED_PROPS:
            shown = "(withheld: possible victim)"
        out.append({"file": name, "row": int(row), "sha256": sha, "kind": kind, "id": ident,
                    "what": what, "value": shown, "compartment": comp})  # fmt: skip
    return out


def anchor(name: str, row: int) -> str:
    """The appendix anchor of one cited row (HTML id: letters, digits, '-', '_' only)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"ev-{safe}-{digest}-{row}"
