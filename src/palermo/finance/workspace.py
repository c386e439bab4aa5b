"""``palermo finance score``: the risk scan of ``finance scan`` run on a workspace's payments, with
every account's score rolled up to the entity that holds it.

The caller's payments (each counted once, ``store.money``) are written to a transaction file of
the scan's fields in the workspace's ``tmp/`` (holders' names from the resolved nodes, countries
as the banks give them) and scanned: detectors, and the shipped model unless ``rules_only``. An
**entity's** score is its highest-scoring account's (the one whose evidence a court would be
shown), with every account's score, patterns and explanation beside it. Flagged: at or above the
model's account threshold (rules-only: any detector fired); flagged entities are stored as
findings ``finance.risk`` with the transactions that prove the patterns.

Beside the scan, which knows no sectors, ``finance.sector`` compares each company account whose
holder the registries give a sector with the other accounts of its sector (``cash_vs_sector.csv``);
an account that fires adds the pattern ``cash_vs_sector`` to its entity (flagged by it in
rules-only mode; in model mode the model's score and threshold decide ``flagged``, the model never
having seen sectors) and is stored as a finding ``finance.cash_vs_sector`` with its cash deposits.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from palermo.finance.patterns import ScanParams
from palermo.finance.scan import scan
from palermo.finance.sector import SectorParams, because, cash_vs_sector
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
    sector_params: SectorParams | None = None,
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
    sp = sector_params or SectorParams()
    sector = cash_vs_sector(pay, tables.accounts, sp)
    sector_rows = sector.to_pylist()
    _write_csv(out / "cash_vs_sector.csv", sector.column_names, sector_rows)
    sector_fired = {r["account"]: r for r in sector_rows if r["fired"]}
    entities: dict[str, dict[str, Any]] = {}
    for r in scored:
        a = accounts.get(r["account"])
        if a is None or a["cash"] or not a["node"]:
            continue
        e = entities.setdefault(a["node"], {"entity": a["node"], "label": a["label"],
                                            "accounts": []})  # fmt: skip
        pats = r.get("patterns") or ""
        if r["account"] in sector_fired:
            pats = ";".join(x for x in (pats, "cash_vs_sector") if x)
        e["accounts"].append({
            "account": r["account"], "score": float(r["score"]),
            "patterns": pats, "because": r.get("because") or "",
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
        if not threshold and "cash_vs_sector" in r["patterns"]:
            r["flagged"] = True
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
    F.replace(store, "finance.cash_vs_sector", _sector_findings(sector_fired, pay, sp),
              {"accounts": len(sector_fired), "params": asdict(sp)})  # fmt: skip
    result = {
        "mode": mode,
        "payments": pay.num_rows,
        "accounts": summary["accounts"],
        "entities": len(rows),
        "entities_flagged": len(found),
        "threshold": threshold or None,
        "top": rows[:10],
        "scan": {k: summary[k] for k in ("alerts", "accounts_flagged", "notes") if k in summary},
        "cash_vs_sector": {
            "company_accounts": len(sector_rows),
            "judged": sum(1 for r in sector_rows if r["note"] is None),
            "fired": [
                {k: r[k] for k in ("label", "account", "sector", "score")}
                for r in sector_fired.values()
            ],
            "not_judged_sectors": sorted({r["sector"] for r in sector_rows if r["note"]}),
        },
        "notes": tables.notes,
    }
    (out / "summary.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return result


def _write_csv(path: Path, names: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows(rows)


def _sector_findings(
    fired: dict[str, dict[str, Any]], pay: pa.Table, params: SectorParams
) -> list[F.Finding]:
    """One finding per fired company account, with its cash deposits as the evidence rows."""
    if not fired:
        return []
    con = duckdb.connect()
    try:
        con.register("pay", pay)
        deposits = (
            con.sql(
                """SELECT dst, tid, ts::VARCHAR AS ts, amount, currency, evidence FROM pay
            WHERE payment_type = 'cash_deposit' OR upper(src) LIKE 'CASH%'
            ORDER BY dst, ts, tid"""
            )
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()
    by_account: dict[str, list[dict[str, Any]]] = {}
    for d in deposits:
        if d["dst"] in fired:
            by_account.setdefault(d["dst"], []).append(d)
    out = []
    for acc, r in fired.items():
        rows = by_account.get(acc, [])
        out.append(F.Finding(
            "finance.cash_vs_sector", [r["node"]], float(r["score"]),
            f"Cash deposits of {r['label']} (account {acc}, sector {r['sector']}) out of line"
            f" with its sector: {because(r, params)}.",
            [{"account": acc, "measures": {k: r[k] for k in (
                "sector", "currency", "credits", "cash", "cash_deposits", "months", "cash_share",
                "sector_cash_share", "z_share", "cash_per_month", "sector_cash_per_month",
                "z_volume", "peers", "volume_peers")},
              "cash_deposits": [{"transaction": d["tid"], "time": d["ts"], "amount": d["amount"],
                                 "currency": d["currency"], "evidence": d["evidence"]}
                                for d in rows[:PROOF_SHOWN]],
              "cash_deposits_total": len(rows)}],
            {"rule": "robust z of cash share (all peers of the sector) or of log cash per month"
                     " (peers of the sector and currency) >= z, cash >= min_cash",
             "params": asdict(params), "module": "palermo.finance.sector"},
        ))  # fmt: skip
    return out
