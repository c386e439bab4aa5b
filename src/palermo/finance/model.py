"""The risk scorer of ``palermo finance scan``: two gradient-boosted models (LightGBM), one for
accounts and one for transactions, over the features of ``features.py`` (which include every
detector's score), trained on simulated cases with ground truth (``train.py``) and shipped with
the package: ``scorer_accounts.txt`` and ``scorer_transactions.txt`` (LightGBM's text format) and
``scorer.json`` (version, feature lists, thresholds, what it was trained on, held-out figures).

Each score is the model's probability that the account / transaction is laundering (as
``simcase.py`` defines it). Every alert and every account above the account threshold or flagged
by a detector carries an explanation: the three features that raised its score most, from
LightGBM's exact TreeSHAP contributions (``pred_contrib``: per feature, in log-odds, summing with
the bias to the raw score), written ``name=value (+contribution)``.

Training is deterministic (fixed seed, ``deterministic``, ``force_row_wise``, a fixed number of
threads, no bagging): the same cases give the same model text, byte for byte, with the same
LightGBM version. Rules-only scans (``--rules-only``) load none of this.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa

from palermo.errors import PalermoError
from palermo.finance import features as F
from palermo.finance.patterns import PATTERNS

ACCOUNTS_FILE = "scorer_accounts.txt"
TRANSACTIONS_FILE = "scorer_transactions.txt"
META_FILE = "scorer.json"
SHIPPED = Path(__file__).parent
TOP = 3  # features named in an explanation
BATCH = 200_000  # transactions scored at a time

#: LightGBM parameters (both models). Small on purpose: the shipped files stay well under 1 MB.
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.15,
    "num_leaves": 7,
    "min_data_in_leaf": 20,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
ROUNDS = {"accounts": 60, "transactions": 60}
#: threads for scoring and explaining (each row on its own: the result does not depend on it)
PREDICT_THREADS = max(1, min(8, os.cpu_count() or 1))


def fit(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    *,
    rounds: int,
    weight: np.ndarray | None = None,
) -> lgb.Booster:
    """One binary LightGBM model, deterministically."""
    data = lgb.Dataset(
        x, label=y, weight=weight, feature_name=list(names), free_raw_data=True,
        params={"max_bin": PARAMS["max_bin"], "verbosity": -1},
    )  # fmt: skip
    return lgb.train(dict(PARAMS), data, num_boost_round=rounds)


@dataclass
class Scorer:
    accounts: lgb.Booster
    transactions: lgb.Booster
    meta: dict[str, Any]
    source: str = "shipped"
    account_features: tuple[str, ...] = field(init=False)
    tx_features: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.account_features = tuple(self.meta["account_features"])
        self.tx_features = tuple(self.meta["transaction_features"])
        for booster, names, what in (
            (self.accounts, self.account_features, "accounts"),
            (self.transactions, self.tx_features, "transactions"),
        ):
            if tuple(booster.feature_name()) != names:
                raise PalermoError(
                    f"the {what} model's features differ from {META_FILE}'s: retrain with"
                    " palermo finance train"
                )

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"]["transactions"])

    @property
    def account_threshold(self) -> float:
        return float(self.meta["threshold"]["accounts"])

    def patterns(self) -> list[str]:
        """The detectors whose scores the model reads, and those the scan runs now."""
        used = [f[4:] for f in self.account_features if f.startswith("det_")]
        return [*PATTERNS, *(p for p in used if p not in PATTERNS)]


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for name in (ACCOUNTS_FILE, TRANSACTIONS_FILE):
        h.update((directory / name).read_bytes())
    return h.hexdigest()


def load(directory: Path | None = None) -> Scorer:
    """The scorer in ``directory`` (default: the one shipped with the package)."""
    if directory is None:
        return _shipped()
    return _load(Path(directory), str(directory))


@cache
def _shipped() -> Scorer:
    return _load(SHIPPED, "shipped")


def _load(directory: Path, source: str) -> Scorer:
    paths = [directory / n for n in (ACCOUNTS_FILE, TRANSACTIONS_FILE, META_FILE)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise PalermoError(
            f"risk model missing: {', '.join(missing)} (reinstall palermo, run palermo finance"
            " train, or scan with --rules-only)"
        )
    try:
        meta = json.loads(paths[2].read_text(encoding="utf-8"))
        accounts = lgb.Booster(model_str=paths[0].read_text(encoding="utf-8"))
        transactions = lgb.Booster(model_str=paths[1].read_text(encoding="utf-8"))
    except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
        raise PalermoError(f"risk model in {directory} cannot be read: {exc}") from None
    for key in ("version", "account_features", "transaction_features", "threshold"):
        if key not in meta:
            raise PalermoError(f"{paths[2]}: no {key!r} (retrain with palermo finance train)")
    return Scorer(accounts, transactions, meta, source)


# -- explanations --------------------------------------------------------------------------------


def contributions(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """Per row: each feature's SHAP contribution (log-odds), then the bias (last column); a row
    sums to the raw score."""
    if not len(x):
        return np.zeros((0, x.shape[1] + 1))
    return np.asarray(
        booster.predict(x, pred_contrib=True, num_threads=PREDICT_THREADS), dtype=np.float64
    )


def _fmt(v: float) -> str:
    if v != v:
        return "n/a"
    if float(v).is_integer() and abs(v) < 1e12:
        return str(int(v))
    return f"{v:.3g}"


def explain(booster: lgb.Booster, x: np.ndarray, names: Sequence[str], k: int = TOP) -> list[str]:
    """``name=value (+contribution); ...`` for each row: the ``k`` features raising its score
    most (largest contributions first; ties by feature order)."""
    contrib = contributions(booster, x)[:, :-1]
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    out = []
    for i in range(len(x)):
        out.append(
            "; ".join(f"{names[j]}={_fmt(float(x[i, j]))} ({contrib[i, j]:+.2f})" for j in order[i])
        )
    return out


# -- scoring a scan ------------------------------------------------------------------------------


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def score_scan(con: duckdb.DuckDBPyConnection, scorer: Scorer) -> dict[str, Any]:
    """Score the scan's accounts and transactions (tables ``acc_model (account, score,
    because)`` and ``tx_model (tid, score, in_proof, because)``); ``because`` is filled for the
    accounts at or above the account threshold or flagged by a detector, and for the alerts
    (transactions at or above the threshold or proven by a detector). Returns facts for the
    summary."""
    F.build(con, scorer.patterns())
    acc = con.sql(
        f"SELECT account, {', '.join(scorer.account_features)} FROM acc_feat ORDER BY account"
    ).to_arrow_table()
    xa = F.matrix(acc, scorer.account_features)
    pa_score = np.asarray(
        scorer.accounts.predict(xa, num_threads=PREDICT_THREADS), dtype=np.float64
    )
    rule = xa[:, scorer.account_features.index("rule_score")]
    show = np.flatnonzero((pa_score >= scorer.account_threshold) | (rule > 0))
    because: list[str | None] = [None] * len(pa_score)
    for i, why in zip(
        show, explain(scorer.accounts, xa[show], scorer.account_features), strict=True
    ):
        because[i] = why
    _register(con, "acc_model", pa.table({
        "account": acc.column("account"),
        "score": pa.array(pa_score, pa.float64()),
        "because": pa.array(because, pa.string()),
    }))  # fmt: skip
    tids, scores, proven, texts = [], [], [], []
    thr = scorer.threshold
    for batch in F.batches(con, "tx_feat", ["tid", *scorer.tx_features], BATCH):
        xt = F.matrix(batch, scorer.tx_features)
        s = np.asarray(
            scorer.transactions.predict(xt, num_threads=PREDICT_THREADS), dtype=np.float64
        )
        in_proof = xt[:, scorer.tx_features.index("in_proof")] > 0
        sel = np.flatnonzero((s >= thr) | in_proof)
        text: list[str | None] = [None] * len(s)
        for j, t in zip(
            sel, explain(scorer.transactions, xt[sel], scorer.tx_features), strict=True
        ):
            text[j] = t
        tids.append(batch.column(0).combine_chunks())
        scores.append(pa.array(s, pa.float64()))
        proven.append(pa.array(in_proof, pa.bool_()))
        texts.append(pa.array(text, pa.string()))
    tid_type = con.execute("SELECT typeof(tid) FROM tx LIMIT 1").fetchall()[0]
    empty = pa.array([], pa.int64() if tid_type and tid_type[0] == "BIGINT" else pa.string())
    _register(con, "tx_model", pa.table({
        "tid": pa.concat_arrays(tids) if tids else empty,
        "score": pa.concat_arrays(scores) if scores else pa.array([], pa.float64()),
        "in_proof": pa.concat_arrays(proven) if proven else pa.array([], pa.bool_()),
        "because": pa.concat_arrays(texts) if texts else pa.array([], pa.string()),
    }))  # fmt: skip
    counts = con.execute(
        f"""SELECT (SELECT count(*) FROM tx_model WHERE score >= {thr!r}),
            (SELECT count(*) FROM tx_model WHERE score < {thr!r} AND in_proof),
            (SELECT count(*) FROM acc_model WHERE score >= {scorer.account_threshold!r})"""
    ).fetchall()[0]
    return {
        "version": scorer.version,
        "source": scorer.source,
        "threshold": thr,
        "account_threshold": scorer.account_threshold,
        "alerts_by_model": int(counts[0]),
        "alerts": int(counts[0]),
        # proven by a detector but below the model's threshold: not in alerts.csv (the rules
        # prove most of a busy file: fan_in on every shop); --rules-only lists them
        "proven_below_threshold": int(counts[1]),
        "accounts_above_threshold": int(counts[2]),
        "lightgbm": scorer.meta.get("lightgbm"),
        "unused_detectors": [p for p in PATTERNS if f"det_{p}" not in scorer.account_features],
    }


def write_scored(con: duckdb.DuckDBPyConnection, out: Path, threshold: float) -> None:
    """alerts.csv and accounts.csv of a scan scored by the model (``score_scan`` first)."""
    con.execute(
        f"""COPY (
            WITH r AS (
                SELECT pr.tid, round(max(h.score), 6) AS rule_score,
                    string_agg(DISTINCT pr.pattern, ';' ORDER BY pr.pattern) AS patterns
                FROM proof pr JOIN hits h USING (pattern, account) GROUP BY pr.tid
            )
            SELECT m.tid AS transaction_id, round(m.score, 6) AS score, r.patterns,
                coalesce(r.rule_score, 0.0) AS rule_score, m.because
            FROM tx_model m LEFT JOIN r USING (tid)
            WHERE m.score >= {threshold!r}
            ORDER BY score DESC, transaction_id
        ) TO '{_lit(out / "alerts.csv")}' (HEADER, DELIMITER ',')"""
    )
    con.execute(
        f"""COPY (
            WITH s AS (
                SELECT account, round(1 - product(1 - score), 6) AS rule_score,
                    string_agg(pattern, ';' ORDER BY pattern) AS patterns
                FROM hits GROUP BY account
            )
            SELECT m.account, round(m.score, 6) AS score, s.patterns,
                coalesce(s.rule_score, 0.0) AS rule_score, m.because
            FROM acc_model m LEFT JOIN s USING (account) ORDER BY score DESC, account
        ) TO '{_lit(out / "accounts.csv")}' (HEADER, DELIMITER ',')"""
    )


def _lit(text: str | Path) -> str:
    return str(text).replace("'", "''")
