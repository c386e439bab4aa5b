"""The detectors of ``palermo finance scan``: one DuckDB SQL statement each, vectorised.

Every detector reads the ``legs`` table (one row per side of each transaction that is not a
self-transfer: ``tid, account, other, dir ('in'/'out'), ts, amount, cur``) and inserts into
``hits (pattern, account, score)`` (the accounts it fired on, score in [0, 1]) and
``proof (pattern, account, tid)`` (the transactions that show it).

Scores: at its threshold a detector scores 0.5 and rises to 1 as the evidence doubles (the
``ratio`` rule: ``min(1, 0.5 * observed / minimum)``), unless said otherwise below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import duckdb

from palermo.errors import PalermoError


@dataclass(frozen=True)
class ScanParams:
    """The detectors' parameters and their defaults (``--params name=value,...``)."""

    window_days: float = 7.0  # fan_in / fan_out: the sliding window
    fan_in_min: int = 10  # fan_in: distinct payers into one account within the window
    fan_out_min: int = 10  # fan_out: distinct payees from one account within the window
    structuring_threshold: float = 10_000.0  # structuring: the reporting threshold T
    structuring_band: float = 0.1  # amounts in [(1 - band) * T, T) are "just below" it
    structuring_min: int = 3  # that many such payments (same account, side, currency)...
    structuring_days: float = 7.0  # ...within this many days
    round_unit: float = 100.0  # round_amounts: multiples of this (1000s are multiples too)
    round_share: float = 0.8  # share of the outgoing payments that are round
    round_min: int = 5  # over at least this many outgoing payments
    pass_days: float = 2.0  # rapid_pass_through: out again within this many days
    pass_tolerance: float = 0.1  # ... with an amount within this share of the amount in
    pass_min_amount: float = 0.0  # ... of an incoming amount above this (0: any amount > 0)
    wages_min_payers: int = 5  # pooled_wages: distinct payers into one account in a month
    wages_tolerance: float = 0.1  # each within this share of the month's median amount
    wages_min_amount: float = 100.0  # wage-like: amounts in [min, max]
    wages_max_amount: float = 10_000.0
    cycle_days: float = 7.0  # cycle: money back at its start within this many days (first hop
    cycle_max_length: int = 4  # to last), over 2 to this many accounts (at most 4)
    cycle_min_ratio: float = 0.8  # each hop's amount in [ratio * previous hop's, previous hop's]

    @classmethod
    def parse(cls, values: dict[str, str]) -> ScanParams:
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, float | int] = {}
        for name, raw in values.items():
            if name not in known:
                raise PalermoError(
                    f"--params: unknown parameter {name!r} (known: {', '.join(known)})"
                )
            try:
                value: float | int = int(raw) if known[name].type == "int" else float(raw)
            except ValueError:
                raise PalermoError(f"--params: {name} must be a number, got {raw!r}") from None
            kwargs[name] = value
        params = cls(**kwargs)  # type: ignore[arg-type]
        for f in fields(params):
            value = getattr(params, f.name)
            if not value >= 0 or value != value:
                raise PalermoError(f"--params: {f.name} must be >= 0, got {value!r}")
        for f in fields(params):
            if f.type == "int" and getattr(params, f.name) < 1:
                raise PalermoError(f"--params: {f.name} must be >= 1")
        if not 2 <= params.cycle_max_length <= 4 or not 0 <= params.cycle_min_ratio <= 1:
            raise PalermoError("--params: cycle_max_length must be 2 to 4, cycle_min_ratio 0 to 1")
        if params.wages_max_amount < params.wages_min_amount:
            raise PalermoError("--params: wages_max_amount must be >= wages_min_amount")
        if not 0 < params.round_share <= 1 or params.round_unit <= 0:
            raise PalermoError("--params: round_share must be in (0, 1], round_unit > 0")
        return params


def _interval(days: float) -> str:
    return f"INTERVAL '{round(days * 86_400_000_000)} microseconds'"


def _bucket(days: float) -> str:
    """Time buckets as wide as ``days``: a leg within ``days`` after another lies in the
    other's bucket or the next, so a join on (account, bucket) stays linear in the legs,
    not quadratic in a busy account's legs."""
    return f"epoch_us(ts) // {max(1, round(days * 86_400_000_000))}"


def _windowed(
    con: duckdb.DuckDBPyConnection,
    pattern: str,
    *,
    where: str,
    partition: str,
    counted: str,
    minimum: int,
    days: float,
) -> None:
    """An account fires when, within ``days``, its legs matching ``where`` reach ``minimum``
    (``counted``: a window aggregate, e.g. count(DISTINCT other)). Each leg is the end of a
    window [ts - days, ts]; the proof is every leg in a window that reached the minimum: a leg
    is in one iff the next qualifying window end at or after it is at most ``days`` later."""
    window = f"PARTITION BY {partition} ORDER BY ts"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE w AS
        WITH c AS (
            SELECT tid, account, ts, {partition} AS part,
                {counted} OVER ({window} RANGE BETWEEN {_interval(days)} PRECEDING
                    AND CURRENT ROW) AS n
            FROM legs WHERE {where}
        )
        SELECT *, min(CASE WHEN n >= {minimum} THEN ts END) OVER (PARTITION BY part
            ORDER BY ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_end
        FROM c"""
    )
    con.execute(
        f"""INSERT INTO hits SELECT '{pattern}', account, least(1.0, 0.5 * max(n) / {minimum})
        FROM w WHERE n >= {minimum} GROUP BY account"""
    )
    con.execute(
        f"""INSERT INTO proof SELECT DISTINCT '{pattern}', account, tid FROM w
        WHERE next_end IS NOT NULL AND next_end - ts <= {_interval(days)}"""
    )
    con.execute("DROP TABLE w")


def fan_in(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """An account receiving from >= fan_in_min distinct payers within window_days (ratio rule
    on the most payers seen in one window). Proof: the incoming payments of those windows."""
    _windowed(con, "fan_in", where="dir = 'in'", partition="account",
              counted="count(DISTINCT other)", minimum=p.fan_in_min, days=p.window_days)  # fmt: skip


def fan_out(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """An account paying >= fan_out_min distinct payees within window_days (ratio rule).
    Proof: the outgoing payments of those windows."""
    _windowed(con, "fan_out", where="dir = 'out'", partition="account",
              counted="count(DISTINCT other)", minimum=p.fan_out_min, days=p.window_days)  # fmt: skip


def structuring(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """>= structuring_min payments made or received by one account, in one currency, within
    structuring_days, each in [(1 - structuring_band) * T, T) (ratio rule). Proof: those
    payments."""
    t = float(p.structuring_threshold)
    low = t * (1.0 - float(p.structuring_band))
    _windowed(con, "structuring", where=f"amount >= {low!r} AND amount < {t!r}",
              partition="(account, dir, cur)", counted="count(*)",
              minimum=p.structuring_min, days=p.structuring_days)  # fmt: skip


def round_amounts(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """An account with >= round_min outgoing payments of which a share >= round_share are
    multiples of round_unit. Score: share / 2 + min(1, round payments / (4 * round_min)) / 2
    (0.525 at the defaults' threshold, 1 for 20 round payments out of 20). Proof: the round
    payments."""
    unit = float(p.round_unit)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE r AS
        SELECT account, tid, amount >= {unit!r}
            AND abs(amount - round(amount / {unit!r}) * {unit!r}) < 1e-6 AS is_round
        FROM legs WHERE dir = 'out'"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE rg AS
        SELECT account, count(*) AS n, count_if(is_round) AS k FROM r GROUP BY account
        HAVING count(*) >= {int(p.round_min)}
            AND count_if(is_round) >= {float(p.round_share)!r} * count(*) - 1e-9"""
    )
    con.execute(
        f"""INSERT INTO hits SELECT 'round_amounts', account,
            least(1.0, k / n / 2 + least(1.0, k / (4.0 * {max(1, int(p.round_min))})) / 2)
        FROM rg"""
    )
    con.execute(
        """INSERT INTO proof SELECT 'round_amounts', account, tid
        FROM r JOIN rg USING (account) WHERE is_round"""
    )
    con.execute("DROP TABLE r; DROP TABLE rg")


def rapid_pass_through(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """Money in and about the same amount (within pass_tolerance of it, same currency) out of
    the same account within pass_days (at or after the time it came in). Score by the number
    k of incoming payments passed on: min(1, 0.5 + 0.125 * (k - 1)). Proof: both legs."""
    tol = float(p.pass_tolerance)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pt AS
        WITH i AS (
            SELECT tid, account, cur, ts, amount, unnest([bk, bk + 1]) AS bk FROM (
                SELECT *, {_bucket(p.pass_days)} AS bk FROM legs
                WHERE dir = 'in' AND amount > {float(p.pass_min_amount)!r})
        ), o AS (
            SELECT tid, account, cur, ts, amount, {_bucket(p.pass_days)} AS bk FROM legs
            WHERE dir = 'out'
        )
        SELECT i.account, i.tid AS tin, o.tid AS tout
        FROM i JOIN o ON i.account = o.account AND i.cur = o.cur AND i.bk = o.bk
        WHERE o.ts >= i.ts AND o.ts <= i.ts + {_interval(p.pass_days)}
            AND abs(o.amount - i.amount) <= {tol!r} * i.amount"""
    )
    con.execute(
        """INSERT INTO hits SELECT 'rapid_pass_through', account,
            least(1.0, 0.5 + 0.125 * (count(DISTINCT tin) - 1)) FROM pt GROUP BY account"""
    )
    con.execute(
        """INSERT INTO proof SELECT DISTINCT 'rapid_pass_through', account, tid FROM (
            SELECT account, tin AS tid FROM pt UNION ALL SELECT account, tout FROM pt)"""
    )
    con.execute("DROP TABLE pt")


def pooled_wages(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """One account receiving, in one calendar month and currency, wage-like amounts (in
    [wages_min_amount, wages_max_amount]) within wages_tolerance of that month's median from
    >= wages_min_payers distinct payers (ratio rule on the most payers in a month). Proof:
    those payments."""
    tol = float(p.wages_tolerance)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE wg AS
        WITH c AS (
            SELECT tid, account, other, cur, date_trunc('month', ts) AS m, amount FROM legs
            WHERE dir = 'in' AND amount BETWEEN {float(p.wages_min_amount)!r}
                AND {float(p.wages_max_amount)!r}
        ), med AS (
            SELECT account, cur, m, median(amount) AS med FROM c GROUP BY ALL
        )
        SELECT c.*, count(DISTINCT other) OVER (PARTITION BY account, cur, m) AS n
        FROM c JOIN med USING (account, cur, m) WHERE abs(amount - med) <= {tol!r} * med"""
    )
    minimum = int(p.wages_min_payers)
    con.execute(
        f"""INSERT INTO hits SELECT 'pooled_wages', account,
            least(1.0, 0.5 * max(n) / {max(1, minimum)}) FROM wg
        WHERE n >= {minimum} GROUP BY account"""
    )
    con.execute(
        f"""INSERT INTO proof SELECT DISTINCT 'pooled_wages', account, tid FROM wg
        WHERE n >= {minimum}"""
    )
    con.execute("DROP TABLE wg")


def cycle(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """Money going round: A pays B (pays C (pays D)) who pays A back, 2 to cycle_max_length
    distinct accounts, each hop at or after the one before, all within cycle_days of the first,
    in one currency, each hop's amount in [cycle_min_ratio * previous, previous] (decreasing:
    the cut each hand takes). Each account in a cycle gets min(1, 0.5 + 0.125 * (cycles - 1));
    proof: every hop of its cycles. Built by joining hops on (account, time bucket), see
    ``_bucket``; a hub with very many payments in and out within one window stays the costly
    case (its paths multiply)."""
    within = _interval(p.cycle_days)
    ratio = float(p.cycle_min_ratio)

    def hop(prev: str, nxt: str) -> str:
        return (
            f"{nxt}.account = {prev}.other AND {nxt}.cur = {prev}.cur AND {nxt}.bk = {prev}.jb"
            f" AND {nxt}.ts >= {prev}.ts"
            f" AND {nxt}.ts <= e1.ts + {within} AND {nxt}.amount <= {prev}.amount"
            f" AND {nxt}.amount >= {ratio!r} * {prev}.amount AND {nxt}.tid <> {prev}.tid"
        )

    con.execute(
        "CREATE OR REPLACE TEMP TABLE e AS SELECT tid, account, other, ts, amount, cur,"
        f" {_bucket(p.cycle_days)} AS bk FROM legs WHERE dir = 'out' AND amount > 0"
    )
    # the hop before, once for its bucket and once for the next (``jb``: the bucket to join)
    con.execute("CREATE OR REPLACE TEMP TABLE ex AS SELECT *, unnest([bk, bk + 1]) AS jb FROM e")
    parts = [
        f"""SELECT [e1.tid, e2.tid] AS tids, [e1.account, e2.account] AS accts
        FROM ex e1 JOIN e e2 ON {hop("e1", "e2")} WHERE e2.other = e1.account"""
    ]
    longest = int(p.cycle_max_length)
    if longest >= 3:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE p3 AS
            SELECT e1.tid AS t1, e2.tid AS t2, e3.tid AS t3, e1.account AS a1,
                e2.account AS a2, e3.account AS a3, e3.other AS a4, e1.ts AS ts1,
                e3.ts AS ts, e3.amount AS amount, e3.cur AS cur, e3.bk AS bk
            FROM ex e1 JOIN ex e2 ON {hop("e1", "e2")} JOIN e e3 ON {hop("e2", "e3")}
            WHERE e2.other <> e1.account AND e3.other <> e2.account"""
        )
        parts.append("SELECT [t1, t2, t3], [a1, a2, a3] FROM p3 WHERE a4 = a1")
    if longest >= 4:
        parts.append(
            f"""SELECT [t1, t2, t3, e4.tid], [a1, a2, a3, e4.account]
            FROM (SELECT *, unnest([bk, bk + 1]) AS jb FROM p3) p3
            JOIN e e4 ON e4.account = p3.a4 AND e4.cur = p3.cur AND e4.bk = p3.jb
                AND e4.ts >= p3.ts
                AND e4.ts <= p3.ts1 + {within} AND e4.amount <= p3.amount
                AND e4.amount >= {ratio!r} * p3.amount AND e4.tid <> p3.t3
            WHERE p3.a4 NOT IN (p3.a1, p3.a2) AND e4.other = p3.a1"""
        )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cyc AS
        SELECT DISTINCT list_sort(tids) AS tids, list_sort(accts) AS accts
        FROM ({" UNION ALL ".join(parts)})"""
    )
    con.execute(
        """INSERT INTO hits SELECT 'cycle', account, least(1.0, 0.5 + 0.125 * (count(*) - 1))
        FROM (SELECT unnest(accts) AS account FROM cyc) GROUP BY account"""
    )
    con.execute(
        """INSERT INTO proof SELECT DISTINCT 'cycle', account, tid
        FROM (SELECT unnest(accts) AS account, tids FROM cyc), unnest(tids) AS u(tid)"""
    )
    con.execute("DROP TABLE IF EXISTS p3; DROP TABLE cyc; DROP TABLE ex; DROP TABLE e")


PATTERNS: dict[str, Callable[[duckdb.DuckDBPyConnection, ScanParams], None]] = {
    "fan_in": fan_in,
    "fan_out": fan_out,
    "structuring": structuring,
    "round_amounts": round_amounts,
    "rapid_pass_through": rapid_pass_through,
    "pooled_wages": pooled_wages,
    "cycle": cycle,
}
