"""``palermo finance evaluate``: the scan against a simulated case's ground truth.

The case's bank files become one transaction file (``simcase.to_csv``), which is scanned twice,
with the risk model and rules-only, exactly as ``palermo finance scan`` would (the files are kept
when ``work`` is given). Then, against ``simcase.labels`` (the definitions are in ``simcase.py``
and in the result):

* **transactions**: ``model`` = the alerts with a model score at or above the shipped threshold,
  ``alerts`` = every row of the model scan's ``alerts.csv`` (the same transactions),
  ``rules`` = the rules-only scan's ``alerts.csv``; over the laundering transactions in the file;
* **accounts** (no ``CASH-`` pseudo-accounts): ``model`` = score at or above the account threshold
  in ``accounts.csv``, ``rules`` = any pattern fired; over the laundering accounts in the file.

Each has precision, recall, F1 (counts beside them), and PR-AUC (average precision) of its
score's ranking: the model's score of every transaction / account, the rule score (0 where no
pattern fired) for rules-only.

The result is a dict whose ``sections`` lists its metric sections in order (``transactions``,
``accounts``); a later section (e.g. the proceeds traced) is added to the dict and to
``sections``, and ``palermo finance evaluate`` prints every listed section.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from palermo.errors import PalermoError
from palermo.finance import simcase

SECTIONS = ["transactions", "accounts"]


def prf(predicted: set[str], truth: set[str]) -> dict[str, Any]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "predicted": len(predicted),
        "true_positives": tp,
    }


def average_precision(scores: dict[str, float], truth: set[str]) -> float:
    """Average precision of ranking ``scores`` (ties share a threshold), the positives being
    ``truth`` (those absent from ``scores`` count as missed)."""
    if not truth:
        return 0.0
    ids = list(scores)
    s = np.fromiter((scores[i] for i in ids), dtype=np.float64, count=len(ids))
    y = np.fromiter((i in truth for i in ids), dtype=bool, count=len(ids))
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, dtype=bool)
    tp, fp = tp[last], fp[last]
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / len(truth)
    prev = np.r_[0.0, recall[:-1]]
    return round(float(np.sum((recall - prev) * precision)), 4)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _real(accounts: Iterable[str]) -> set[str]:
    return {a for a in accounts if not a.startswith(simcase.CASH_PREFIX)}


def metrics_from_files(
    model_dir: Path | None,
    rules_dir: Path,
    lab: simcase.Labels,
    model_scores: dict[str, dict[str, float]] | None = None,
    all_tids: set[str] | None = None,
) -> dict[str, Any]:
    """The metrics from the scans' files (``model_dir`` None: rules-only). ``model_scores``
    (``transactions`` / ``accounts``: id -> score) gives the model's PR-AUC over every row (the
    files list the alerts only); ``all_tids`` the transactions the file holds."""
    rules_alerts = {r["transaction_id"]: float(r["score"]) for r in _read(rules_dir / "alerts.csv")}
    rules_accounts = [r for r in _read(rules_dir / "accounts.csv")]
    present_acc = _real(r["account"] for r in rules_accounts)
    tids = all_tids if all_tids is not None else set(rules_alerts)
    true_tx = set(lab.transactions) & tids if all_tids is not None else set(lab.transactions)
    true_acc = set(lab.accounts) & present_acc
    tx: dict[str, Any] = {
        "laundering": len(true_tx),
        "transactions": len(tids),
        "rules": {
            **prf(set(rules_alerts), true_tx),
            "pr_auc": average_precision({t: rules_alerts.get(t, 0.0) for t in tids}, true_tx),
        },
    }
    acc: dict[str, Any] = {
        "laundering": len(true_acc),
        "accounts": len(present_acc),
        "rules": {
            **prf({r["account"] for r in rules_accounts if r["patterns"]} & present_acc, true_acc),
            "pr_auc": average_precision(
                {r["account"]: float(r["score"]) for r in rules_accounts
                 if r["account"] in present_acc}, true_acc),
        },
    }  # fmt: skip
    if model_dir is not None:
        summary = json.loads((model_dir / "summary.json").read_text(encoding="utf-8"))
        thr = float(summary["model"]["threshold"])
        thr_acc = float(summary["model"]["account_threshold"])
        alerts = _read(model_dir / "alerts.csv")
        accounts = [r for r in _read(model_dir / "accounts.csv") if r["account"] in present_acc]
        scores = model_scores or {}
        tx_scores = scores.get("transactions") or {
            r["transaction_id"]: float(r["score"]) for r in alerts
        }
        acc_scores = scores.get("accounts") or {r["account"]: float(r["score"]) for r in accounts}
        tx["model"] = {
            **prf({r["transaction_id"] for r in alerts if float(r["score"]) >= thr}, true_tx),
            "pr_auc": average_precision({t: tx_scores.get(t, 0.0) for t in tids}, true_tx),
        }
        tx["alerts"] = prf({r["transaction_id"] for r in alerts}, true_tx)
        acc["model"] = {
            **prf({r["account"] for r in accounts if float(r["score"]) >= thr_acc}, true_acc),
            "pr_auc": average_precision({a: acc_scores.get(a, 0.0) for a in present_acc}, true_acc),
        }
        tx["threshold"] = thr
        acc["threshold"] = thr_acc
    return {"transactions": tx, "accounts": acc}


def evaluate(
    case: Path,
    *,
    model_dir: Path | None = None,
    rules_only: bool = False,
    work: Path | None = None,
) -> dict[str, Any]:
    """Scan the simulated case in ``case`` (model and rules-only) and score it against its
    truth; ``work`` keeps tx.csv and both scans' folders (model/, rules/)."""
    from palermo.finance.scan import scan

    case = Path(case)
    if not (case / "truth").is_dir():
        raise PalermoError(f"{case}: no truth/ folder (evaluate needs a simulated case)")
    lab = simcase.labels(case)
    gen = simcase.manifest(case).get("generator", {})
    with tempfile.TemporaryDirectory(prefix="palermo-finance-eval-") as tmp:
        base = Path(work) if work is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        facts = simcase.to_csv(case, base / "tx.csv")
        grabbed: dict[str, Any] = {}

        def grab(con: duckdb.DuckDBPyConnection) -> None:
            if "tx_model" in {
                r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }:
                grabbed["transactions"] = {
                    str(t): float(s)
                    for t, s in con.execute("SELECT tid, score FROM tx_model").fetchall()
                }
                grabbed["accounts"] = {
                    str(a): float(s)
                    for a, s in con.execute("SELECT account, score FROM acc_model").fetchall()
                }
            grabbed["tids"] = {str(r[0]) for r in con.execute("SELECT tid FROM tx").fetchall()}

        model_summary = None
        if not rules_only:
            model_summary = scan(
                base / "tx.csv", out=base / "model", model_dir=model_dir, inspect=grab
            )
        scan(base / "tx.csv", out=base / "rules", rules_only=True, inspect=grab)
        result = metrics_from_files(
            None if rules_only else base / "model", base / "rules", lab,
            {k: grabbed[k] for k in ("transactions", "accounts") if k in grabbed},
            grabbed["tids"],
        )  # fmt: skip
    return {
        "case": str(case),
        "scenario": gen.get("scenario"),
        "scale": gen.get("scale"),
        "seed": gen.get("seed"),
        "transactions_read": facts["rows"],
        "duplicates_dropped": facts["duplicates_by_id"] + facts["duplicates_by_content"],
        "mode": "rules-only" if rules_only else "model and rules-only",
        "model": None if model_summary is None else model_summary["model"],
        "definitions": {
            "laundering_transaction": simcase.TRANSACTION_DEFINITION,
            "laundering_account": simcase.ACCOUNT_DEFINITION,
        },
        "sections": list(SECTIONS),
        **result,
    }


def evaluate_simulated(
    scenario: str,
    scale: str | int,
    seed: int,
    *,
    model_dir: Path | None = None,
    rules_only: bool = False,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Simulate a case (into ``keep``, or a temporary folder) and evaluate it."""
    from palermo.simulate import simulate

    with tempfile.TemporaryDirectory(prefix="palermo-finance-sim-") as tmp:
        case = Path(keep) if keep is not None else Path(tmp) / "case"
        simulate(scenario, scale, seed, case)
        return evaluate(case, model_dir=model_dir, rules_only=rules_only)
