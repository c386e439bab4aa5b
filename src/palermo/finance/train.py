"""Train the risk scorer on simulated cases: ``palermo finance train`` (or ``python -m
palermo.finance.train``).

For each scale, scenario and seed: simulate a case (in a temporary folder), turn its bank files
into one transaction file (``simcase.to_csv``), run the scan's detectors and mine the features
(``features.py``) exactly as ``palermo finance scan`` does, and label accounts and transactions
with the truth (``simcase.labels``; cash pseudo-accounts left out). Then:

1. the thresholds: each training seed is held out in turn (the models fitted on the other seeds
   score it); the transaction and account thresholds are the ones maximising F1 of "score >=
   threshold" (what ``alerts.csv`` lists) over these out-of-fold scores, with their figures
   recorded;
2. both models are fitted on every training case and written (``scorer_accounts.txt``,
   ``scorer_transactions.txt``, ``scorer.json``);
3. unless ``--no-evaluate``, each scenario is evaluated on cases of seeds not trained on
   (``HOLDOUT``: tiny seed 7, small seed 11) with ``evaluate.py``, model against rules-only, and
   the figures go into ``scorer.json`` (``held_out``).

Transactions: every laundering transaction is kept, and of the others a seeded sample of
``NEGATIVE_RATE`` with weight 1 / ``NEGATIVE_RATE`` (the probabilities stay calibrated, training
stays fast). Deterministic: the simulator is, the features are rounded, the sample is seeded and
LightGBM runs with ``deterministic`` on a fixed number of threads, so the same arguments give the
same model files, byte for byte (with the same LightGBM version).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import lightgbm as lgb
import numpy as np

from palermo.errors import PalermoError
from palermo.finance import features as F
from palermo.finance import model as M
from palermo.finance import simcase
from palermo.finance.patterns import PATTERNS, ScanParams

FORMAT = 1  # the scorer.json layout; the version is FORMAT.<digest of the model files>
SCENARIOS = ("labour-agri", "sexual-exploit", "mixed-transnational")
SEEDS = (1, 2, 3)
SCALES = ("tiny", "small")
HOLDOUT = (("tiny", 7), ("small", 11))  # evaluation cases: seeds never trained on
NEGATIVE_RATE = 0.25


@dataclass
class Case:
    name: str
    seed: int
    xa: np.ndarray  # accounts (no cash pseudo-accounts)
    ya: np.ndarray
    xt: np.ndarray  # transactions (laundering ones and a sample of the others)
    yt: np.ndarray
    wt: np.ndarray
    proven: np.ndarray  # the transaction is in a detector's proof
    accounts: int
    transactions: int


def _labels_of(values: Sequence[Any], positives: frozenset[str]) -> np.ndarray:
    return np.fromiter((str(v) in positives for v in values), dtype=bool, count=len(values))


def case_data(case_dir: Path, work: Path, key: str, seed: int) -> Case:
    """Features and labels of one simulated case (see the module docstring)."""
    from palermo.finance.scan import detect_all, read_transactions

    csv_path = work / f"{key}.csv"
    simcase.to_csv(case_dir, csv_path)
    lab = simcase.labels(case_dir)
    acc_names = F.account_features()
    tx_names = F.tx_features()
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")
        read_transactions(con, csv_path, {})
        detect_all(con, ScanParams())
        F.build(con)
        acc = con.sql(
            f"SELECT account, {', '.join(acc_names)} FROM acc_feat"
            f" WHERE account NOT LIKE '{simcase.CASH_PREFIX}%' ORDER BY account"
        ).to_arrow_table()
        tx = con.sql(
            f"SELECT tid, {', '.join(tx_names)} FROM tx_feat ORDER BY tid"
        ).to_arrow_table()
    finally:
        con.close()
    csv_path.unlink()
    xa = F.matrix(acc, acc_names)
    ya = _labels_of(acc.column("account").to_pylist(), lab.accounts)
    xt_all = F.matrix(tx, tx_names)
    yt_all = _labels_of(tx.column("tid").to_pylist(), lab.transactions)
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    keep = yt_all | (rng.random(len(yt_all)) < NEGATIVE_RATE)
    wt = np.where(yt_all[keep], 1.0, 1.0 / NEGATIVE_RATE)
    proven = xt_all[keep, tx_names.index("in_proof")] > 0
    return Case(key, seed, xa, ya, xt_all[keep], yt_all[keep], wt, proven, len(ya), len(yt_all))


def best_threshold(
    score: np.ndarray, y: np.ndarray, w: np.ndarray, forced: np.ndarray | None = None
) -> dict[str, float]:
    """The threshold maximising weighted F1 of ``score >= t`` (or ``forced``), over the scores'
    distinct values; with its precision, recall and F1."""
    forced = np.zeros(len(score), dtype=bool) if forced is None else forced
    order = np.argsort(-score, kind="stable")
    s, yy, ww, ff = score[order], y[order], w[order], forced[order]
    pos_total = float(np.sum(w[y]))
    # forced rows count as predicted whatever t is
    tp_forced = float(np.sum(ww[ff & yy]))
    fp_forced = float(np.sum(ww[ff & ~yy]))
    free = ~ff
    tp = tp_forced + np.cumsum(np.where(free & yy, ww, 0.0))
    fp = fp_forced + np.cumsum(np.where(free & ~yy, ww, 0.0))
    last = np.r_[s[1:] != s[:-1], True]  # a threshold takes all rows of its score
    tp, fp, cut = tp[last], fp[last], s[last]
    precision = tp / np.maximum(tp + fp, 1e-12)
    recall = tp / max(pos_total, 1e-12)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    i = int(np.argmax(f1))
    return {
        "threshold": round(float(cut[i]), 6),
        "precision": round(float(precision[i]), 4),
        "recall": round(float(recall[i]), 4),
        "f1": round(float(f1[i]), 4),
    }


def _stack(cases: Sequence[Case], attr: str) -> np.ndarray:
    return np.concatenate([getattr(c, attr) for c in cases])


def collect(
    scenarios: Sequence[str],
    scales: Sequence[str],
    seeds: Sequence[int],
    say: Callable[[str], None] = lambda _m: None,
) -> list[Case]:
    """Simulate each case (in a temporary folder) and mine its features and labels."""
    from palermo.simulate import simulate

    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="palermo-finance-train-") as tmp:
        for scale in scales:
            for scenario in scenarios:
                for seed in seeds:
                    key = f"{scenario}-{scale}-{seed}"
                    case_dir = Path(tmp) / key
                    simulate(scenario, scale, seed, case_dir)
                    c = case_data(case_dir, Path(tmp), key, seed)
                    cases.append(c)
                    say(
                        f"{key}: {c.accounts} accounts ({int(c.ya.sum())} laundering),"
                        f" {c.transactions} transactions ({int(c.yt.sum())} laundering)"
                    )
    return cases


def train(
    out: Path,
    *,
    scenarios: Sequence[str] = SCENARIOS,
    scales: Sequence[str] = SCALES,
    seeds: Sequence[int] = SEEDS,
    holdout: Sequence[tuple[str, int]] = HOLDOUT,
    rounds: dict[str, int] | None = None,
    say: Callable[[str], None] = lambda _m: None,
    cases: list[Case] | None = None,
) -> dict[str, Any]:
    """Train on the given cases, write the scorer's files into ``out``; returns scorer.json."""
    started = time.perf_counter()
    rounds = {**M.ROUNDS, **(rounds or {})}
    if len(set(seeds)) < 2:
        raise PalermoError("--seeds: give at least two seeds (each is held out in turn)")
    overlap = {s for _, s in holdout} & set(seeds)
    if overlap:
        raise PalermoError(f"seed(s) {sorted(overlap)} are both trained on and held out")
    acc_names, tx_names = F.account_features(), F.tx_features()
    if cases is None:
        cases = collect(scenarios, scales, seeds, say)
    # 1. thresholds from out-of-fold scores, one training seed held out at a time
    oof_a = np.zeros(sum(len(c.ya) for c in cases))
    oof_t = np.zeros(sum(len(c.yt) for c in cases))
    seed_a = np.concatenate([np.full(len(c.ya), c.seed) for c in cases])
    seed_t = np.concatenate([np.full(len(c.yt), c.seed) for c in cases])
    xa, ya = _stack(cases, "xa"), _stack(cases, "ya")
    xt, yt, wt = _stack(cases, "xt"), _stack(cases, "yt"), _stack(cases, "wt")
    for s in seeds:
        a, t = seed_a == s, seed_t == s
        ma = M.fit(xa[~a], ya[~a], acc_names, rounds=rounds["accounts"])
        mt = M.fit(xt[~t], yt[~t], tx_names, rounds=rounds["transactions"], weight=wt[~t])
        oof_a[a] = ma.predict(xa[a])
        oof_t[t] = mt.predict(xt[t])
        say(f"seed {s} held out: scored by models fitted on the other seeds")
    thr_a = best_threshold(oof_a, ya, np.ones(len(ya)))
    thr_t = best_threshold(oof_t, yt, wt)
    # 2. the models on everything
    ma = M.fit(xa, ya, acc_names, rounds=rounds["accounts"])
    mt = M.fit(xt, yt, tx_names, rounds=rounds["transactions"], weight=wt)
    out.mkdir(parents=True, exist_ok=True)
    (out / M.ACCOUNTS_FILE).write_text(ma.model_to_string(), encoding="utf-8")
    (out / M.TRANSACTIONS_FILE).write_text(mt.model_to_string(), encoding="utf-8")
    digest = M.digest(out)
    meta: dict[str, Any] = {
        "version": f"{FORMAT}.{digest[:12]}",
        "sha256": digest,
        "created_by": "palermo finance train",
        "lightgbm": lgb.__version__,
        "params": M.PARAMS,
        "rounds": rounds,
        "threshold": {"transactions": thr_t["threshold"], "accounts": thr_a["threshold"]},
        "definitions": {
            "laundering_transaction": simcase.TRANSACTION_DEFINITION,
            "laundering_account": simcase.ACCOUNT_DEFINITION,
        },
        "training": {
            "scenarios": list(scenarios),
            "scales": list(scales),
            "seeds": list(seeds),
            "patterns": list(PATTERNS),
            "negative_rate": NEGATIVE_RATE,
            "accounts": len(ya),
            "laundering_accounts": int(ya.sum()),
            "transactions": int(sum(c.transactions for c in cases)),
            "transactions_sampled": len(yt),
            "laundering_transactions": int(yt.sum()),
        },
        "cross_validated": {
            "how": "each training seed held out in turn; thresholds chosen on these scores",
            "transactions": thr_t,
            "accounts": thr_a,
        },
        "account_features": list(acc_names),
        "transaction_features": list(tx_names),
    }
    _write_meta(out, meta)
    # 3. held-out cases
    if holdout:
        from palermo.finance.evaluate import evaluate_simulated

        held: list[dict[str, Any]] = []
        for scale, seed in holdout:
            for scenario in scenarios:
                r = evaluate_simulated(scenario, scale, seed, model_dir=out)
                row: dict[str, Any] = {"scenario": scenario, "scale": scale, "seed": seed}
                for section in ("transactions", "accounts"):
                    row[section] = {
                        side: {
                            k: r[section][side][k] for k in ("precision", "recall", "f1", "pr_auc")
                        }
                        for side in ("model", "rules")
                    }
                held.append(row)
                say(
                    f"held out {scenario} {scale} seed {seed}: transactions F1"
                    f" {row['transactions']['model']['f1']} (rules {row['transactions']['rules']['f1']}),"
                    f" accounts F1 {row['accounts']['model']['f1']}"
                    f" (rules {row['accounts']['rules']['f1']})"
                )
        meta["held_out"] = held
        _write_meta(out, meta)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    return meta


def _write_meta(out: Path, meta: dict[str, Any]) -> None:
    (out / M.META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def parse_holdout(text: str) -> list[tuple[str, int]]:
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        scale, _, seed = part.partition(":")
        if not seed.strip().isdigit():
            raise PalermoError(f"--holdout: {part!r} is not SCALE:SEED (e.g. tiny:7)")
        pairs.append((scale.strip(), int(seed)))
    return pairs


def parse_seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise PalermoError(f"--seeds: {text!r} is not a list of integers") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=M.SHIPPED)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--seeds", default=",".join(str(s) for s in SEEDS))
    ap.add_argument("--scales", default=",".join(SCALES))
    ap.add_argument("--holdout", default=",".join(f"{a}:{b}" for a, b in HOLDOUT))
    args = ap.parse_args(argv)
    meta = train(
        args.out,
        scenarios=args.scenarios.split(","),
        scales=args.scales.split(","),
        seeds=parse_seeds(args.seeds),
        holdout=parse_holdout(args.holdout),
        say=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(f"wrote {args.out}: version {meta['version']} in {meta['seconds']} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
