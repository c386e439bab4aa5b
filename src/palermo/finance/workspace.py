"""``palermo finance score``: the risk scan of ``finance scan`` run on a workspace's payments, with
every account's score rolled up to the entity that holds it.

The caller's payments (each counted once, ``store.money``) are written to a transaction file of
the scan's fields in the workspace's ``tmp/`` (holders' names from the resolved nodes, countries
as the banks give them) and scanned: detectors, and the shipped model unless ``rules_only``. An
**entity's** score is its highest-scoring account's (the one whose evidence a court would be
shown), with every account's score, patterns and explanation beside it. Flagged: at or above the
model's account threshold (rules-only: any detector fired); flagged entities are stored as
findings ``finance.risk`` with the transactions that prove the patterns.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb

from palermo.finance.patterns import ScanParams
from palermo.finance.scan import scan
from palermo.store import findings as F
from palermo.store.money import Rate, money_tables
from palermo.store.workspace import Store

PROOF_SHOWN = 20  # proving transactions kept per entity finding


def score_workspace(
    store: Store,
    *,
    out: Path,
    rules_only: bool = False,
    model_dir: Path | None = None,
    rates: list[Rate] | None = None,
    params: ScanParams | None = None,
) -> dict[str, Any]:
    tables = money_tables(store, rates or [])
    accounts = {a["account"]: a for a in tables.accounts.to_pylist()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = store.tmp_dir / "finance-score"
    work.mkdir(parents=True, exist_ok=True)
    tx = work / "payments.csv"
    pay = tables.payments
    # the scan's file, written by DuckDB from the Arrow tables (no per-row Python)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("pay", pay)
        con.register("acc", tables.accounts)
        label = "CASE WHEN {0}.node IS NOT NULL THEN {0}.label END"
        con.execute(
            f"""COPY (
                SELECT p.tid AS transaction_id, p.ts::VARCHAR AS timestamp,
                  p.src AS from_account, p.dst AS to_account, p.amount::VARCHAR AS amount,
                  p.currency, {label.format("a")} AS from_name, {label.format("b")} AS to_name,
                  p.src_country AS from_country, p.dst_country AS to_country, p.payment_type,
                  p.reference
                FROM pay p LEFT JOIN acc a ON a.account = p.src
                LEFT JOIN acc b ON b.account = p.dst ORDER BY p.i
            ) TO '{str(tx).replace("'", "''")}' (HEADER, DELIMITER ',')"""
        )
    finally:
        con.close()
    cols = {name: pay.column(name).to_pylist() for name in ("tid", "src", "dst", "evidence")}
    try:
        summary = scan(
            tx, out=out / "scan", rules_only=rules_only, model_dir=model_dir, params=params
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with (out / "scan" / "accounts.csv").open(encoding="utf-8", newline="") as f:
        scored = list(csv.DictReader(f))
    proofs: dict[str, list[str]] = {}
    with (out / "scan" / "alerts.csv").open(encoding="utf-8", newline="") as f:
        alerts = {r["transaction_id"]: r for r in csv.DictReader(f)}
    for k in range(pay.num_rows):
        tid = str(cols["tid"][k])
        if tid in alerts:
            for acc in (cols["src"][k], cols["dst"][k]):
                proofs.setdefault(acc, []).append(tid)
    evidence = dict(zip((str(t) for t in cols["tid"]), cols["evidence"], strict=True))
    entities: dict[str, dict[str, Any]] = {}
    for r in scored:
        a = accounts.get(r["account"])
        if a is None or a["cash"] or not a["node"]:
            continue
        e = entities.setdefault(a["node"], {"entity": a["node"], "label": a["label"],
                                            "accounts": []})  # fmt: skip
        e["accounts"].append({
            "account": r["account"], "score": float(r["score"]),
            "patterns": r.get("patterns") or "", "because": r.get("because") or "",
            "rule_score": float(r.get("rule_score") or r["score"]),
        })  # fmt: skip
    rows = []
    for e in entities.values():
        top = max(e["accounts"], key=lambda x: x["score"])
        rows.append({
            "entity": e["entity"], "label": e["label"], "score": top["score"],
            "account": top["account"], "patterns": top["patterns"], "because": top["because"],
            "accounts": len(e["accounts"]),
            "all_accounts": ";".join(f"{x['account']}={x['score']:.4f}" for x in e["accounts"]),
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["score"], r["entity"]))
    mode = summary.get("mode", "rules-only" if rules_only else "model")
    # flagged: at or above the model's account threshold; rules-only: any detector fired
    threshold = float((summary.get("model") or {}).get("account_threshold") or 0.0)
    for r in rows:
        r["flagged"] = r["score"] >= threshold if threshold else r["score"] > 0
    with (out / "entities.csv").open("w", encoding="utf-8", newline="") as f:
        w2 = csv.DictWriter(
            f,
            fieldnames=[
                "entity",
                "label",
                "score",
                "flagged",
                "account",
                "patterns",
                "because",
                "accounts",
                "all_accounts",
            ],
        )
        w2.writeheader()
        w2.writerows(rows)
    found = []
    for r in rows:
        if not r["flagged"]:
            continue
        e = entities[r["entity"]]
        shown = [t for x in e["accounts"] for t in proofs.get(x["account"], [])][:PROOF_SHOWN]
        found.append(F.Finding(
            "finance.risk", [r["entity"]], round(r["score"], 6),
            f"Laundering risk of {r['label']}: {r['score']:.3f} ({mode}) from account"
            f" {r['account']}" + (f"; patterns {r['patterns']}" if r["patterns"] else "")
            + (f"; model's reasons: {r['because']}" if r["because"] else "") + ".",
            [{"accounts": e["accounts"],
              "transactions": [{"transaction": t, "evidence": evidence.get(t)} for t in shown]}],
            {"mode": mode, "model": summary.get("model")},
        ))  # fmt: skip
    F.replace(store, "finance.risk", found, {"entities": len(found), "mode": mode})
    result = {
        "mode": mode,
        "payments": pay.num_rows,
        "accounts": summary["accounts"],
        "entities": len(rows),
        "entities_flagged": len(found),
        "threshold": threshold or None,
        "top": rows[:10],
        "scan": {k: summary[k] for k in ("alerts", "accounts_flagged", "notes") if k in summary},
        "notes": tables.notes,
    }
    (out / "summary.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return result
