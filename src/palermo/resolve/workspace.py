"""``palermo resolve``: resolution of the workspace's persons, across sources and compartments the
caller may see. The same model as ``palermo link`` scores candidate pairs; pairs at or above the
auto-merge threshold are linked, pairs between the review and auto thresholds wait in the review
queue, and people's decisions (accept / reject / undo) override the model in this and every later
run. Results go to the store (``resolution``, ``resolution_pairs``), audited.
"""

from __future__ import annotations

import csv
import itertools
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from palermo.errors import PalermoError
from palermo.resolve import fields as F
from palermo.resolve.addresses import resolve_addresses
from palermo.resolve.companies import prepare_companies
from palermo.resolve.link import Say, _scalar, connected_components, predict, prepare
from palermo.resolve.model import ModelSpec
from palermo.store import resolution as R
from palermo.store.workspace import Store

AUTO = 0.95
REVIEW = 0.7


def resolve_workspace(
    store: Store, *, auto: float = AUTO, review: float = REVIEW, progress: Say | None = None
) -> dict[str, Any]:
    """Resolve persons, then companies (and organisation-like account holders); one run."""
    say = progress or (lambda _msg, _fraction=None: None)
    if not 0 < review <= auto < 1:
        raise PalermoError(f"thresholds: need 0 < review ({review}) <= auto ({auto}) < 1")
    started = time.perf_counter()
    run_id = R.next_run_id(store)
    params = {"kinds": ["Person", "Company"], "auto": auto, "review": review,
              "model": "palermo.resolve.model / palermo.resolve.companies"}  # fmt: skip
    dec = R.decisions(store)
    pairs: list[pa.Table] = [_empty_pairs()]
    clusters: list[pa.Table] = [_empty_clusters()]
    by_kind: dict[str, dict[str, int]] = {}
    for label, model_kind, read in (
        ("Person", "person", R.person_records),
        ("Company", "company", R.company_records),
    ):
        say(f"reading {label.lower()} entities")
        records = read(store)
        if records.num_rows == 0:
            by_kind[label] = {"entities": 0, "clusters": 0}
            continue
        p, c, stats = _resolve_kind(records, label, model_kind, auto, review, dec, say)  # type: ignore[arg-type]
        pairs.append(p)
        clusters.append(c)
        by_kind[label] = stats
    say("addresses")
    addresses = resolve_addresses(R.address_values(store))
    by_kind["Address"] = {
        "entities": addresses.num_rows,
        "clusters": len(set(addresses["address_id"].to_pylist())),
    }
    pairs_table = pa.concat_tables(pairs, promote_options="permissive")
    clusters_table = pa.concat_tables(clusters, promote_options="permissive")
    summary: dict[str, Any] = {
        "persons": by_kind["Person"]["entities"],
        "companies": by_kind["Company"]["entities"],
        "addresses": by_kind["Address"]["entities"],
        "address_clusters": by_kind["Address"]["clusters"],
        "clusters": by_kind["Person"]["clusters"] + by_kind["Company"]["clusters"],
        **{
            f"{status}_pairs": sum(k.get(status, 0) for k in by_kind.values())
            for status in ("merged", "review", "accepted", "rejected")
        },
        "by_kind": by_kind,
        "seconds": round(time.perf_counter() - started, 2),
    }
    R.save_run(store, run_id, params, summary, pairs_table, clusters_table, addresses)
    return summary | {"run_id": run_id}


def _resolve_kind(
    records: pa.Table,
    label: str,
    model_kind: Literal["person", "company"],
    auto: float,
    review: float,
    dec: dict[tuple[str, str], str],
    say: Say,
) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    say(f"normalising {label.lower()} entities")
    if model_kind == "company":
        present = prepare_companies(con, records)
    else:
        con.register("_r", records)
        con.execute(
            "CREATE TABLE raw_A AS SELECT entity_id AS record_id, * EXCLUDE (entity_id) FROM _r"
        )
        mapping = {f: f for f in F.FIELDS if f in records.column_names}
        present = prepare(con, {"A": mapping}, "record_id", None)
    say(f"scoring {label.lower()} pairs")
    scored = predict(con, ModelSpec(present, "dedupe_only", model_kind), review, say)
    comps = [
        c[0][: -len("_weight")]
        for c in con.execute(f"DESCRIBE {scored}").fetchall()
        if c[0].endswith("_weight") and c[0] != "match_weight"
    ]
    levels = (
        "json_object("
        + ", ".join(
            f"'{c}', json_object('level', \"{c}\", 'weight', \"{c}_weight\")" for c in comps
        )
        + ")"
        if comps
        else "'{}'"
    )
    con.register(
        "_dec",
        pa.table(
            {
                "left_id": [k[0] for k in dec],
                "right_id": [k[1] for k in dec],
                "decision": list(dec.values()),
            },
            schema=pa.schema(
                [("left_id", pa.string()), ("right_id", pa.string()), ("decision", pa.string())]
            ),
        ),
    )
    con.execute(
        f"""CREATE TABLE _scored AS
        SELECT least(record_id_l, record_id_r) AS left_id,
               greatest(record_id_l, record_id_r) AS right_id,
               match_probability, match_weight, {levels}::VARCHAR AS levels
        FROM {scored}"""
    )
    # people's decisions on pairs of these entities, scored or not
    con.execute(
        f"""CREATE TABLE _pairs AS
        SELECT coalesce(s.left_id, d.left_id) AS left_id,
               coalesce(s.right_id, d.right_id) AS right_id,
               '{label}' AS kind, coalesce(s.match_probability, 1.0) AS match_probability,
               coalesce(s.match_weight, 0.0) AS match_weight,
               coalesce(s.levels, '{{"decision": "' || d.decision || '"}}') AS levels,
               CASE WHEN d.decision = 'accept' THEN 'accepted'
                    WHEN d.decision = 'reject' THEN 'rejected'
                    WHEN s.match_probability >= {auto} THEN 'merged'
                    WHEN s.match_probability >= {review} THEN 'review'
                    ELSE 'below' END AS status
        FROM _scored s FULL JOIN _dec d ON d.left_id = s.left_id AND d.right_id = s.right_id
        WHERE coalesce(s.left_id, d.left_id) IN (SELECT record_id FROM prepared)
          AND coalesce(s.right_id, d.right_id) IN (SELECT record_id FROM prepared)"""
    )
    con.execute("CREATE OR REPLACE TABLE _nodes AS SELECT record_id AS node FROM prepared")
    con.execute(
        "CREATE OR REPLACE TABLE _edges AS SELECT left_id AS a, right_id AS b FROM _pairs"
        " WHERE status IN ('merged', 'accepted')"
    )
    say(f"clustering {label.lower()} entities")
    connected_components(con)
    con.execute(
        f"""CREATE TABLE _clusters AS
        WITH e AS (
            SELECT left_id AS node, right_id AS other, match_probability, match_weight, status,
                   levels FROM _pairs WHERE status IN ('merged', 'accepted')
            UNION ALL
            SELECT right_id, left_id, match_probability, match_weight, status, levels FROM _pairs
            WHERE status IN ('merged', 'accepted')),
        best AS (
            SELECT node, max(match_probability) AS p,
                   arg_max(match_weight, (match_probability, other)) AS w,
                   arg_max(json_object('other', other, 'levels', levels::JSON),
                           (match_probability, other))::VARCHAR AS evidence,
                   bool_or(status = 'accepted') AS by_review
            FROM e GROUP BY node)
        SELECT l.node AS entity_id, l.label AS cluster_id, '{label}' AS kind,
               coalesce(b.p, 1.0) AS match_probability, b.w AS match_weight,
               CASE WHEN b.node IS NULL THEN 'alone' WHEN b.by_review THEN 'review'
                    ELSE 'model' END AS decided_by,
               NULL::VARCHAR AS deciding_comparison, b.evidence
        FROM _label l LEFT JOIN best b ON b.node = l.node ORDER BY entity_id"""
    )
    pairs_table = con.sql("SELECT * FROM _pairs ORDER BY left_id, right_id").to_arrow_table()
    clusters_table = con.sql("SELECT * FROM _clusters").to_arrow_table()
    clusters_table = clusters_table.set_column(
        clusters_table.schema.get_field_index("deciding_comparison"),
        "deciding_comparison",
        pa.array([_deciding(e) for e in clusters_table["evidence"].to_pylist()], pa.string()),
    )
    status = dict(con.execute("SELECT status, count(*) FROM _pairs GROUP BY status").fetchall())
    stats = {
        "entities": records.num_rows,
        "clusters": _scalar(con, "SELECT count(DISTINCT cluster_id) FROM _clusters"),
        **{s: int(status.get(s, 0)) for s in ("merged", "review", "accepted", "rejected")},
    }
    con.close()
    return pairs_table, clusters_table, stats


def _deciding(evidence: str | None) -> str | None:
    """The comparison that weighed most in a link (a person's decision: 'decision')."""
    if not evidence:
        return None
    levels = json.loads(evidence).get("levels") or {}
    if "decision" in levels:
        return "decision"
    weights = {k: v.get("weight") or 0.0 for k, v in levels.items() if isinstance(v, dict)}
    return max(sorted(weights), key=lambda k: weights[k]) if weights else None


def _empty_pairs() -> pa.Table:
    return pa.table(
        {
            "left_id": pa.array([], pa.string()), "right_id": pa.array([], pa.string()),
            "kind": pa.array([], pa.string()), "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()), "levels": pa.array([], pa.string()),
            "status": pa.array([], pa.string()),
        }
    )  # fmt: skip


def _empty_clusters() -> pa.Table:
    return pa.table(
        {
            "entity_id": pa.array([], pa.string()), "cluster_id": pa.array([], pa.string()),
            "kind": pa.array([], pa.string()), "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()), "decided_by": pa.array([], pa.string()),
            "deciding_comparison": pa.array([], pa.string()), "evidence": pa.array([], pa.string()),
        }
    )  # fmt: skip


# -- evaluation against a simulator's ground truth ------------------------------------------------
def evaluate(store: Store, truth: Path) -> dict[str, Any]:
    """Pairwise precision / recall / F1 and B-cubed of the current resolution of persons against
    a simulated case's truth (``truth/mentions.csv``: which true person each source row names).
    Only entities whose rows name exactly one true person are scored."""
    mentions_path = Path(truth) / "mentions.csv"
    if not mentions_path.is_file():
        raise PalermoError(
            f"{mentions_path}: not found (give the truth/ folder of a simulated case)"
        )
    by_row: dict[tuple[str, int], set[str]] = defaultdict(set)
    with mentions_path.open(encoding="utf-8", newline="") as f:
        for m in csv.DictReader(f):
            if m["true_id"].startswith("P") and m["row"].isdigit():
                by_row[(Path(m["file"]).name, int(m["row"]))].add(m["true_id"])
    true_of: dict[str, set[str]] = defaultdict(set)
    for entity, file, row in R.entity_rows(store, "Person"):
        true_of[entity] |= by_row.get((Path(file).name, row), set())
    clusters = R.clusters_of(store)
    if not clusters:
        raise PalermoError("no resolution yet: run `palermo resolve` first")
    scored = {e: next(iter(t)) for e, t in true_of.items() if len(t) == 1 and e in clusters}
    if not scored:
        raise PalermoError("no person in this workspace maps to the truth given")
    pred: dict[str, list[str]] = defaultdict(list)
    true: dict[str, list[str]] = defaultdict(list)
    for e, t in scored.items():
        pred[clusters[e]].append(e)
        true[t].append(e)

    def pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
        return {p for m in groups.values() for p in itertools.combinations(sorted(m), 2)}

    found, actual = pairs(pred), pairs(true)
    tp = len(found & actual)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(actual) if actual else 1.0
    # B-cubed: per entity, the share of its predicted cluster that is truly its person, and of
    # its true person's entities that are in its predicted cluster
    b_p = b_r = 0.0
    for e, t in scored.items():
        mine = pred[clusters[e]]
        same = Counter(scored[x] for x in mine)[t]
        b_p += same / len(mine)
        b_r += same / len(true[t])
    n = len(scored)
    b_p, b_r = b_p / n, b_r / n
    return {
        "entities_scored": n,
        "true_persons": len(true),
        "predicted_clusters": len(pred),
        "pairs_true": len(actual),
        "pairs_found": len(found),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(_f1(precision, recall), 4),
        "bcubed_precision": round(b_p, 4),
        "bcubed_recall": round(b_r, 4),
        "bcubed_f1": round(_f1(b_p, b_r), 4),
    }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0
