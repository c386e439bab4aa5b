"""Features of accounts and transactions for the risk scorer (``model.py``), mined in DuckDB SQL.

Reads the scan's tables: ``tx (tid, row, ts, src, dst, amount, cur)``, ``legs`` (one row per side
of each transfer that is not a self-transfer), ``hits (pattern, account, score)``, ``proof
(pattern, account, tid)`` and, for the optional fields, ``raw`` (the file's values as text, by
``row``): ``payment_type``, ``from_country``, ``to_country`` when the file has them. Every stage is
a plain SQL statement (joins, GROUP BY, window functions; nothing row-by-row in Python), so that a
Spark engine can run the same statements later. Writes two tables:

``acc_feat``: one row per account (payer or payee of any transaction), columns ``account`` then
``ACCOUNT_FEATURES``:

* counts and sums in and out (``n_in``, ``n_out``, ``sum_in``, ``sum_out``; amounts in units of
  the median payment in the same currency in the file, a currency-free scale), distinct
  counterparties in and out (``payers``, ``payees``, ``counterparties``);
* ``pass_through_ratio`` (money out / money in, missing without money in), ``in_out_degree_ratio``
  (payers / payees, missing without payees), ``median_hours_to_out`` (median over the incoming
  payments of the hours until the account's next outgoing payment), ``share_in_out_48h`` (share of
  incoming payments followed by an outgoing one within 48 hours);
* ``round_share_out`` (outgoing amounts that are multiples of 100), ``cash_in_share`` /
  ``cash_out_share`` (incoming / outgoing payments in cash: the other side a ``CASH...``
  pseudo-account, or a payment type naming cash), ``cross_border_share`` (payments whose two
  sides' countries differ, where both are known: the file's from_country / to_country, else an
  IBAN's country prefix; missing when no country is known), ``active_days``, ``max_per_day``
  (most payments in and out on one day), ``median_in`` / ``median_out``;
* every detector's score (``det_<pattern>``, 0 where it did not fire), ``n_patterns`` and
  ``rule_score`` (1 - prod(1 - score), as the rules-only scan);
* graph features over the counterparties (2-hop, in SQL): ``nb_mean_degree`` (their mean number of
  counterparties), ``nb_flagged_share`` (the share of them any detector fired on),
  ``nb_mean_rule_score``, ``nb_max_rule_score``.

``tx_feat``: one row per transaction, columns ``tid`` then ``TX_FEATURES``: ``amount_log10``
(log10 of the amount in units of its currency's median), ``round_100``, ``round_1000``, ``hour``
(UTC), ``is_cash``, ``cross_border``, ``pair_n`` (transactions between the same payer and payee,
that direction), ``in_proof`` (1 when a detector's proof names it), ``n_proof_patterns``,
``proof_score`` (the highest score of the patterns proving it, the rules-only transaction score),
then the payer's and the payee's account features (``payer_...``, ``payee_...``).

Not a feature on purpose: how long an account is seen (first to last payment). In the simulator
the accounts a network opens during the case are seen for less time than everyone else's, a
give-away that would not carry over to real data.

Missing values (a ratio without a denominator) are NULL (NaN for the model); everything is rounded
to 6 decimals, so that parallel floating-point sums cannot change a feature between runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from palermo.finance.patterns import PATTERNS

BASE_ACCOUNT_FEATURES = (
    "n_in",
    "n_out",
    "sum_in",
    "sum_out",
    "payers",
    "payees",
    "counterparties",
    "pass_through_ratio",
    "in_out_degree_ratio",
    "median_hours_to_out",
    "share_in_out_48h",
    "round_share_out",
    "cash_in_share",
    "cash_out_share",
    "cross_border_share",
    "active_days",
    "max_per_day",
    "median_in",
    "median_out",
    "n_patterns",
    "rule_score",
    "nb_mean_degree",
    "nb_flagged_share",
    "nb_mean_rule_score",
    "nb_max_rule_score",
)
BASE_TX_FEATURES = (
    "amount_log10",
    "round_100",
    "round_1000",
    "hour",
    "is_cash",
    "cross_border",
    "pair_n",
    "in_proof",
    "n_proof_patterns",
    "proof_score",
)
OPTIONAL_USED = ("payment_type", "from_country", "to_country")
CASH_ACCOUNT = "CASH%"  # LIKE pattern of cash pseudo-accounts (the simulator's CASH-<bank>)


def detector_features(patterns: Sequence[str] | None = None) -> tuple[str, ...]:
    return tuple(f"det_{name}" for name in (patterns if patterns is not None else PATTERNS))


def account_features(patterns: Sequence[str] | None = None) -> tuple[str, ...]:
    return (*BASE_ACCOUNT_FEATURES, *detector_features(patterns))


def tx_features(patterns: Sequence[str] | None = None) -> tuple[str, ...]:
    acc = account_features(patterns)
    return (
        *BASE_TX_FEATURES,
        *(f"payer_{f}" for f in acc),
        *(f"payee_{f}" for f in acc),
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()
    return {str(r[0]) for r in rows}


def _r(expr: str) -> str:
    return f"round(CAST({expr} AS DOUBLE), 6)"


def build(con: duckdb.DuckDBPyConnection, patterns: Sequence[str] | None = None) -> None:
    """Create ``acc_feat`` and ``tx_feat`` from the scan's tables (see the module docstring)."""
    names = list(patterns if patterns is not None else PATTERNS)
    # the optional fields: columns of tx when the scan keeps them there, else of raw
    in_tx = _columns(con, "tx")
    raw = _columns(con, "raw") if "raw" in _tables(con) else set()
    need_raw = any(f in raw and f not in in_tx for f in OPTIONAL_USED)
    join_raw = "LEFT JOIN raw USING (row)" if need_raw else ""

    def field(name: str) -> str | None:
        if name in in_tx:
            return f"tx.{name}"
        return f"raw.{name}" if name in raw else None

    pt = field("payment_type")
    ptype = f"lower({pt})" if pt else "NULL::VARCHAR"

    def country(name: str, account: str) -> str:
        iban = (
            f"CASE WHEN regexp_matches({account}, '^[A-Z]{{2}}[0-9]{{2}}')"
            f" THEN left({account}, 2) END"
        )
        col = field(name)
        return f"coalesce(nullif(upper({col}), ''), {iban})" if col else iban

    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fx_tx AS
        WITH med AS (SELECT cur, median(amount) AS med FROM tx GROUP BY cur)
        SELECT tx.tid, tx.ts, tx.src, tx.dst, tx.amount,
            tx.amount / CASE WHEN med.med > 0 THEN med.med ELSE 1 END AS rel,
            (tx.src LIKE '{CASH_ACCOUNT}' OR tx.dst LIKE '{CASH_ACCOUNT}'
                OR coalesce({ptype} LIKE '%cash%', false)) AS is_cash,
            {country("from_country", "tx.src")} AS src_cc,
            {country("to_country", "tx.dst")} AS dst_cc,
            tx.amount >= 100 AND abs(tx.amount - round(tx.amount / 100) * 100) < 1e-6
                AS round_100,
            tx.amount >= 1000 AND abs(tx.amount - round(tx.amount / 1000) * 1000) < 1e-6
                AS round_1000
        FROM tx JOIN med USING (cur) {join_raw}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fx_legs AS
        SELECT l.tid, l.account, l.other, l.dir, l.ts, e.rel, e.is_cash, e.round_100,
            CASE WHEN l.dir = 'out' THEN e.src_cc ELSE e.dst_cc END AS own_cc,
            CASE WHEN l.dir = 'out' THEN e.dst_cc ELSE e.src_cc END AS other_cc
        FROM legs l JOIN fx_tx e USING (tid)"""
    )
    # the hours from each incoming payment to the account's next outgoing one
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fx_gap AS
        SELECT account, median(hours) AS median_hours_to_out,
            avg(CASE WHEN hours IS NOT NULL AND hours <= 48 THEN 1.0 ELSE 0.0 END)
                AS share_in_out_48h
        FROM (
            SELECT account, dir, epoch(next_out - ts) / 3600.0 AS hours FROM (
                SELECT account, dir, ts, min(CASE WHEN dir = 'out' THEN ts END) OVER (
                    PARTITION BY account ORDER BY ts
                    RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_out
                FROM fx_legs)
        ) WHERE dir = 'in' GROUP BY account"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fx_day AS
        SELECT account, max(n) AS max_per_day FROM (
            SELECT account, CAST(ts AS DATE) AS d, count(*) AS n FROM fx_legs GROUP BY ALL
        ) GROUP BY account"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fx_agg AS
        SELECT account,
            count(*) FILTER (WHERE dir = 'in') AS n_in,
            count(*) FILTER (WHERE dir = 'out') AS n_out,
            coalesce(sum(rel) FILTER (WHERE dir = 'in'), 0) AS sum_in,
            coalesce(sum(rel) FILTER (WHERE dir = 'out'), 0) AS sum_out,
            count(DISTINCT other) FILTER (WHERE dir = 'in') AS payers,
            count(DISTINCT other) FILTER (WHERE dir = 'out') AS payees,
            count(DISTINCT other) AS counterparties,
            avg(CASE WHEN round_100 THEN 1.0 ELSE 0.0 END) FILTER (WHERE dir = 'out')
                AS round_share_out,
            avg(CASE WHEN is_cash THEN 1.0 ELSE 0.0 END) FILTER (WHERE dir = 'in')
                AS cash_in_share,
            avg(CASE WHEN is_cash THEN 1.0 ELSE 0.0 END) FILTER (WHERE dir = 'out')
                AS cash_out_share,
            avg(CASE WHEN own_cc <> other_cc THEN 1.0 ELSE 0.0 END)
                FILTER (WHERE own_cc IS NOT NULL AND other_cc IS NOT NULL) AS cross_border_share,
            count(DISTINCT CAST(ts AS DATE)) AS active_days,
            median(rel) FILTER (WHERE dir = 'in') AS median_in,
            median(rel) FILTER (WHERE dir = 'out') AS median_out
        FROM fx_legs GROUP BY account"""
    )
    dets = ", ".join(
        f"coalesce(max(score) FILTER (WHERE pattern = '{n}'), 0) AS det_{n}" for n in names
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fx_det AS
        SELECT account, count(DISTINCT pattern) AS n_patterns,
            1 - product(1 - score) AS rule_score{", " + dets if dets else ""}
        FROM hits GROUP BY account"""
    )
    # 2-hop: what the counterparties look like
    con.execute(
        """CREATE OR REPLACE TEMP TABLE fx_nb AS
        WITH nb AS (SELECT DISTINCT account, other FROM fx_legs)
        SELECT nb.account, avg(a.counterparties) AS nb_mean_degree,
            avg(CASE WHEN d.account IS NULL THEN 0.0 ELSE 1.0 END) AS nb_flagged_share,
            avg(coalesce(d.rule_score, 0)) AS nb_mean_rule_score,
            max(coalesce(d.rule_score, 0)) AS nb_max_rule_score
        FROM nb JOIN fx_agg a ON a.account = nb.other
            LEFT JOIN fx_det d ON d.account = nb.other
        GROUP BY nb.account"""
    )
    zero = {"n_in", "n_out", "sum_in", "sum_out", "payers", "payees", "counterparties",
            "active_days", "max_per_day", "n_patterns", "rule_score"}  # fmt: skip
    expr = {
        "pass_through_ratio": "CASE WHEN a.sum_in > 0 THEN a.sum_out / a.sum_in END",
        "in_out_degree_ratio": "CASE WHEN a.payees > 0 THEN a.payers / a.payees END",
        "median_hours_to_out": "g.median_hours_to_out",
        "share_in_out_48h": "g.share_in_out_48h",
        "max_per_day": "y.max_per_day",
        "n_patterns": "d.n_patterns",
        "rule_score": "d.rule_score",
        **{f: f"nb.{f}" for f in BASE_ACCOUNT_FEATURES if f.startswith("nb_")},
    }
    cols = []
    for f in account_features(names):
        e = expr.get(f, f"d.{f}" if f.startswith("det_") else f"a.{f}")
        if f in zero or f.startswith("det_"):
            e = f"coalesce({e}, 0)"
        cols.append(f"{_r(e)} AS {f}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE acc_feat AS
        WITH acc AS (SELECT src AS account FROM tx UNION SELECT dst FROM tx)
        SELECT acc.account, {", ".join(cols)}
        FROM acc LEFT JOIN fx_agg a USING (account) LEFT JOIN fx_gap g USING (account)
            LEFT JOIN fx_day y USING (account) LEFT JOIN fx_det d USING (account)
            LEFT JOIN fx_nb nb USING (account)
        ORDER BY acc.account"""
    )
    acc = account_features(names)
    side = ", ".join([f"ps.{f} AS payer_{f}" for f in acc] + [f"pd.{f} AS payee_{f}" for f in acc])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE tx_feat AS
        WITH pr AS (
            SELECT p.tid, count(DISTINCT p.pattern) AS n, max(h.score) AS score
            FROM proof p JOIN hits h USING (pattern, account) GROUP BY p.tid
        ), pair AS (SELECT src, dst, count(*) AS n FROM tx GROUP BY ALL)
        SELECT e.tid,
            {_r("CASE WHEN e.rel > 0 THEN log10(e.rel) END")} AS amount_log10,
            CAST(e.round_100 AS DOUBLE) AS round_100,
            CAST(e.round_1000 AS DOUBLE) AS round_1000,
            CAST(hour(e.ts) AS DOUBLE) AS hour,
            CAST(e.is_cash AS DOUBLE) AS is_cash,
            CAST(CASE WHEN e.src_cc IS NOT NULL AND e.dst_cc IS NOT NULL
                THEN (e.src_cc <> e.dst_cc)::INT END AS DOUBLE) AS cross_border,
            CAST(pair.n AS DOUBLE) AS pair_n,
            CASE WHEN pr.tid IS NULL THEN 0.0 ELSE 1.0 END AS in_proof,
            CAST(coalesce(pr.n, 0) AS DOUBLE) AS n_proof_patterns,
            {_r("coalesce(pr.score, 0)")} AS proof_score,
            {side}
        FROM fx_tx e JOIN pair USING (src, dst) LEFT JOIN pr USING (tid)
            JOIN acc_feat ps ON ps.account = e.src JOIN acc_feat pd ON pd.account = e.dst
        ORDER BY e.tid"""
    )
    con.execute(
        "DROP TABLE fx_tx; DROP TABLE fx_legs; DROP TABLE fx_gap; DROP TABLE fx_day;"
        " DROP TABLE fx_agg; DROP TABLE fx_det; DROP TABLE fx_nb"
    )


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def matrix(table: pa.Table | pa.RecordBatch, names: Sequence[str]) -> np.ndarray:
    """The named columns as a float64 matrix (NULL -> NaN), in the given order."""
    missing = [n for n in names if n not in table.schema.names]
    if missing:
        raise KeyError(", ".join(missing))
    cols = [
        np.asarray(
            pc.fill_null(table.column(n).cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
        for n in names
    ]
    return np.column_stack(cols) if cols else np.zeros((table.num_rows, 0))


def batches(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: int = 200_000
) -> Iterator[pa.Table]:
    """``table``'s columns in its stored order, ``rows`` rows at a time (by rowid ranges, so
    the connection stays free between batches)."""
    n = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    cols = ", ".join(columns)
    for start in range(0, n, rows):
        yield con.sql(
            f"SELECT {cols} FROM {table} WHERE rowid >= {start} AND rowid < {start + rows}"
            " ORDER BY rowid"
        ).to_arrow_table()
