"""The detectors of ``palermo finance scan``: a few DuckDB SQL statements each, vectorised (no
per-row Python).

Every detector reads the ``legs`` table (one row per side of each transaction that is not a
self-transfer: ``tid, account, other, dir ('in'/'out'), ts, amount, cur``, then the optional
fields as seen from the leg's account and its counterparty: ``name, other_name, bank,
other_bank, country, other_country, ptype`` (payment type), ``ref`` (reference), NULL when the
file lacks them) and inserts into ``hits (pattern, account, score)`` (the accounts it fired on,
one row each, score in [0, 1]) and ``proof (pattern, account, tid)`` (the transactions that show
it).

Detectors: the money-laundering shapes fan_in, fan_out, structuring (DOMAIN.md F8),
round_amounts, rapid_pass_through, pooled_wages (F1), cycle, gather_scatter (fan-in then fan-out
through one account) and scatter_gather (one source, several intermediaries, one sink); and the
FATF/FinCEN/FINTRAC trafficking indicators of DOMAIN.md section 7, which read names, references,
payment types, banks and countries: ad_payments (F3), accommodation_payments (F6, F4),
transport_payments (F5), remittance_corridor (F9), cash_intensive (F2) and funnel (F7). Their
keyword lists, each with its source, are in ``indicators.yml``; matching is on normalised text
(accents stripped, lower case, punctuation made spaces), whole words. A detector whose fields
are absent does not fire; ``unavailable`` says which, for the summary's notes.

Scores: at its threshold a detector scores 0.5 and rises to 1 as the evidence doubles (the
``ratio`` rule: ``min(1, 0.5 * observed / minimum)``), unless said otherwise below.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import yaml

from palermo.errors import PalermoError
from palermo.params import numeric_params


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
    gather_min: int = 5  # gather_scatter: distinct payers into one account within gather_days,
    gather_days: float = 7.0  # then as many distinct payees within gather_days after
    scatter_min: int = 3  # scatter_gather: distinct intermediaries between one source and sink
    scatter_days: float = 7.0  # 2nd hop within this after the 1st; 1st hops within this
    scatter_min_ratio: float = 0.8  # 2nd hop's amount in [ratio * 1st hop's, 1st hop's]
    ad_min: int = 3  # ad_payments: payments to ad sites by one payer...
    ad_days: float = 30.0  # ...within this many days...
    ad_max_amount: float = 200.0  # ...each in (0, this]
    lodging_min_places: int = 2  # accommodation_payments: distinct payees for lodging/rent...
    lodging_days: float = 31.0  # ...by one payer within this many days
    transport_min: int = 3  # transport_payments: travel purchases by one payer...
    transport_days: float = 7.0  # ...within this many days
    remit_min: int = 3  # remittance_corridor: remittances from one payer to one country...
    remit_days: float = 30.0  # ...within this many days; or
    remit_min_senders: int = 3  # distinct senders to one beneficiary within remit_days
    cash_min_deposits: int = 5  # cash_intensive: an account (and peer) has this many deposits
    cash_min_peers: int = 5  # peers needed for the median/MAD to mean something
    cash_min_z: float = 3.5  # robust z of its cash share of inflows (Iglewicz & Hoaglin: 3.5)
    funnel_days: float = 1.0  # funnel: cash out elsewhere within this after cash in

    @classmethod
    def parse(cls, values: dict[str, str]) -> ScanParams:
        params = cls(**numeric_params(cls, values))  # type: ignore[arg-type]
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
        if not 0 <= params.scatter_min_ratio <= 1:
            raise PalermoError("--params: scatter_min_ratio must be 0 to 1")
        if params.ad_max_amount <= 0 or params.cash_min_z <= 0:
            raise PalermoError("--params: ad_max_amount and cash_min_z must be > 0")
        return params


# -- indicator keyword lists (indicators.yml) ---------------------------------------------------

INDICATORS = "indicators.yml"
# what normalisation makes a space: punctuation, symbols, separators, controls, any script (RE2
# syntax, as DuckDB's regexps; cheaper to compile than "not a letter or digit", the same on text)
NOT_WORD = r"[\pP\pS\pZ\pC]+"


@cache
def indicators() -> dict[str, dict[str, Any]]:
    """The keyword lists of ``indicators.yml`` (read once): name -> {indicator, source,
    keywords}."""
    text = resources.files("palermo.finance").joinpath(INDICATORS).read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise PalermoError(f"{INDICATORS}: not a mapping of keyword lists")
    for name, entry in data.items():
        words = entry.get("keywords") if isinstance(entry, dict) else None
        if not words or not all(isinstance(w, str) and normalise(w.rstrip("*")) for w in words):
            raise PalermoError(f"{INDICATORS}: {name}: needs a list of keywords")
        if not entry.get("source"):
            raise PalermoError(f"{INDICATORS}: {name}: needs its source")
    return data


def normalise(text: str) -> str:
    """What keywords and texts are compared as: accents stripped, lower case, every run of
    characters that is not a letter or digit one space (the twin of ``_norm``'s SQL)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", bare.lower()).split())


@cache
def keyword_regex(name: str) -> str:
    """One RE2 expression matching any keyword of list ``name`` as whole words of normalised
    text (a keyword ending in * matches the words it begins)."""
    alternatives = set()
    for keyword in indicators()[name]["keywords"]:
        # normalised: letters, digits and single spaces only, nothing to escape
        words = normalise(keyword.rstrip("*"))
        alternatives.add(words + ("[^ ]*" if keyword.endswith("*") else ""))
    return "(^| )(?:" + "|".join(sorted(alternatives)) + ")( |$)"


def _norm(*columns: str) -> str:
    """SQL: the columns' text (NULL as empty) joined by spaces and normalised."""
    joined = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    return f"regexp_replace(lower(strip_accents({joined})), '{NOT_WORD}', ' ', 'g')"


def _matches(text: str, name: str) -> str:
    """SQL: normalised ``text`` holds a keyword of list ``name``."""
    return f"regexp_matches({text}, '{keyword_regex(name).replace(chr(39), chr(39) * 2)}')"


def _country(account: str, field: str) -> str:
    """SQL: an account's country: the country field when given, else the first two letters of
    an account number that looks like an IBAN (two letters, two digits, 11 to 30 letters or
    digits; spaces ignored), else NULL (no guess)."""
    number = f"upper(replace({account}, ' ', ''))"
    return (
        f"coalesce(upper({field}), CASE WHEN regexp_full_match({number},"
        f" '[A-Z]{{2}}[0-9]{{2}}[A-Z0-9]{{11,30}}') THEN left({number}, 2) END)"
    )


# the fields each indicator detector reads (any one of the groups, all of a group's fields)
NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ad_payments": (("to_name",), ("reference",)),
    "accommodation_payments": (("to_name",), ("reference",)),
    "transport_payments": (("to_name",), ("reference",)),
    "funnel": (("from_country", "to_country"), ("from_bank", "to_bank")),
}


def unavailable(present: set[str]) -> list[str]:
    """Notes for the summary: the detectors that cannot run (or run only in part) without
    fields absent from the file (``present``: the fields found)."""
    notes = []
    for name, groups in NEEDS.items():
        if not any(set(group) <= present for group in groups):
            wanted = " or ".join(" and ".join(group) for group in groups)
            notes.append(f"{name} could not run: needs {wanted} (not in the file)")
    if not present & {"payment_type", "reference"}:
        notes.append(
            "cash_intensive ran without its no-wage/tax-debit condition (needs payment_type or"
            " reference)"
        )
    if "payment_type" not in present:
        notes.append(
            "cash_intensive, funnel: cash deposits and withdrawals known only as payments from"
            " or to accounts whose number begins with CASH (no payment_type)"
        )
    if not present >= {"from_country", "to_country"}:
        notes.append(
            "remittance_corridor: countries only from IBAN-like account numbers (no"
            " from_country/to_country)"
        )
    return notes


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
    source: str = "legs",
) -> None:
    """An account fires when, within ``days``, its legs matching ``where`` reach ``minimum``
    (``counted``: a window aggregate, e.g. count(DISTINCT other)). Each leg is the end of a
    window [ts - days, ts]; the proof is every leg in a window that reached the minimum: a leg
    is in one iff the next qualifying window end at or after it is at most ``days`` later.
    ``source``: the table of legs read (``legs`` or one with its columns tid, account, ts and
    those ``partition`` and ``counted`` name)."""
    window = f"PARTITION BY {partition} ORDER BY ts"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE w AS
        WITH c AS (
            SELECT tid, account, ts, {partition} AS part,
                {counted} OVER ({window} RANGE BETWEEN {_interval(days)} PRECEDING
                    AND CURRENT ROW) AS n
            FROM {source} WHERE {where}
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


def gather_scatter(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """Fan-in then fan-out through one account: it receives from >= gather_min distinct payers
    within gather_days, and within gather_days after the last of those arrivals pays >=
    gather_min distinct payees. Each incoming leg is the end of an arrival window [ts - days,
    ts] and the start of a departure window [ts, ts + days]. Score: ratio rule on the smaller
    of the two counts (best window). Proof: the incoming payments of the qualifying arrival
    windows and the outgoing payments of their departure windows. A cash pseudo-account
    (number beginning with CASH: the bank's cash desk, no one) is not a hub."""
    within = _interval(p.gather_days)
    minimum = int(p.gather_min)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE gs AS
        WITH c AS (
            SELECT tid, account, dir, ts,
                count(DISTINCT CASE WHEN dir = 'in' THEN other END) OVER (PARTITION BY account
                    ORDER BY ts RANGE BETWEEN {within} PRECEDING AND CURRENT ROW) AS n_in,
                count(DISTINCT CASE WHEN dir = 'out' THEN other END) OVER (PARTITION BY account
                    ORDER BY ts RANGE BETWEEN CURRENT ROW AND {within} FOLLOWING) AS n_out
            FROM legs WHERE upper(account) NOT LIKE 'CASH%'
        ), g AS (
            SELECT *, dir = 'in' AND n_in >= {minimum} AND n_out >= {minimum} AS gathered FROM c
        )
        SELECT *,
            min(CASE WHEN gathered THEN ts END) OVER (PARTITION BY account ORDER BY ts
                RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_g,
            max(CASE WHEN gathered THEN ts END) OVER (PARTITION BY account ORDER BY ts
                RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev_g
        FROM g"""
    )
    con.execute(
        f"""INSERT INTO hits SELECT 'gather_scatter', account,
            least(1.0, 0.5 * max(least(n_in, n_out)) / {max(1, minimum)})
        FROM gs WHERE gathered GROUP BY account"""
    )
    con.execute(
        f"""INSERT INTO proof SELECT DISTINCT 'gather_scatter', account, tid FROM gs
        WHERE (dir = 'in' AND next_g - ts <= {within})
            OR (dir = 'out' AND ts - prev_g <= {within})"""
    )
    con.execute("DROP TABLE gs")


def scatter_gather(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """One source, many intermediaries, one sink: a source pays >= scatter_min distinct
    intermediaries (those first hops within scatter_days of each other) which each pay one and
    the same destination (not the source) within scatter_days at or after receiving, in the
    same currency, an amount in [scatter_min_ratio * first hop, first hop] (what came in, less
    a cut). Cash pseudo-accounts (numbers beginning with CASH) take no part. Score: ratio rule
    on the intermediaries, for the source, the sink and each intermediary (its best source-sink
    pair). Proof: both hops of each chain, for all three."""
    within = _interval(p.scatter_days)
    ratio = float(p.scatter_min_ratio)
    minimum = int(p.scatter_min)
    hop = (
        "dir = 'out' AND amount > 0 AND upper(account) NOT LIKE 'CASH%'"
        " AND upper(other) NOT LIKE 'CASH%'"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE sg AS
        WITH h1 AS (
            SELECT tid, account, other, ts, amount, cur, unnest([bk, bk + 1]) AS bk FROM (
                SELECT *, {_bucket(p.scatter_days)} AS bk FROM legs WHERE {hop})
        ), h2 AS (
            SELECT tid, account, other, ts, amount, cur, {_bucket(p.scatter_days)} AS bk
            FROM legs WHERE {hop}
        ), chains AS (
            SELECT h1.account AS src, h1.other AS mid, h2.other AS dst, h1.tid AS t1,
                h2.tid AS t2, h1.ts
            FROM h1 JOIN h2 ON h2.account = h1.other AND h2.cur = h1.cur AND h2.bk = h1.bk
            WHERE h2.ts >= h1.ts AND h2.ts <= h1.ts + {within} AND h2.other <> h1.account
                AND h2.amount <= h1.amount AND h2.amount >= {ratio!r} * h1.amount
        ), c AS (
            SELECT *, count(DISTINCT mid) OVER (PARTITION BY src, dst ORDER BY ts
                RANGE BETWEEN {within} PRECEDING AND CURRENT ROW) AS n
            FROM chains
        ), w AS (
            SELECT *, min(CASE WHEN n >= {minimum} THEN ts END) OVER (PARTITION BY src, dst
                ORDER BY ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_end
            FROM c
        )
        SELECT src, mid, dst, t1, t2,
            least(1.0, 0.5 * max(n) OVER (PARTITION BY src, dst) / {max(1, minimum)}) AS score
        FROM w WHERE next_end IS NOT NULL AND next_end - ts <= {within}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE sgr AS
        SELECT unnest([src, mid, dst]) AS account, t1, t2, score FROM sg"""
    )
    con.execute(
        """INSERT INTO hits SELECT 'scatter_gather', account, max(score) FROM sgr
        GROUP BY account"""
    )
    con.execute(
        """INSERT INTO proof SELECT DISTINCT 'scatter_gather', account, unnest([t1, t2])
        FROM sgr"""
    )
    con.execute("DROP TABLE sgr; DROP TABLE sg")


def _keyword_values(name: str, column: str, where: str = "true") -> str:
    """SQL: the distinct non-NULL values of legs' ``column`` (in rows where ``where``) that hold
    a keyword of list ``name``. Matching distinct values, not rows, keeps the regular
    expression off the many rows that repeat a payment type, payee or reference."""
    return (
        f"SELECT v FROM (SELECT DISTINCT {column} AS v FROM legs WHERE {column} IS NOT NULL"
        f" AND {where}) WHERE {_matches(_norm('v'), name)}"
    )


def _paying(
    con: duckdb.DuckDBPyConnection,
    table: str,
    name: str,
    where: str = "true",
    columns: tuple[str, ...] = ("other_name", "ref"),
) -> None:
    """Temp table ``table (tid, account, other, ts, amount)``: the outgoing payments (amount > 0
    and ``where``) one of whose ``columns`` (by default the payee's name and the reference)
    holds a keyword of list ``name``."""
    out = "dir = 'out'"
    held = " OR ".join(f"{c} IN ({_keyword_values(name, c, out)})" for c in columns)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS SELECT tid, account, other, ts, amount
        FROM legs WHERE dir = 'out' AND amount > 0 AND ({where}) AND ({held})"""
    )


def ad_payments(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """DOMAIN.md F3 (FINTRAC 2021-OA001, FinCEN FIN-2020-A008): small repeated payments to
    escort or classified-ad sites. One payer making >= ad_min payments, each in (0,
    ad_max_amount], within ad_days, to payees whose name or reference holds a keyword of the
    ``ad_sites`` list (ratio rule on the payments). Needs to_name or reference. Proof: those
    payments."""
    _paying(con, "ad", "ad_sites", where=f"amount <= {float(p.ad_max_amount)!r}")
    _windowed(con, "ad_payments", source="ad", where="true", partition="account",
              counted="count(*)", minimum=p.ad_min, days=p.ad_days)  # fmt: skip
    con.execute("DROP TABLE ad")


def accommodation_payments(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """DOMAIN.md F6 (one payer covering rent for two or more flats; from the project brief,
    unverified) and F4 (FINTRAC 2021-OA001: short stays in many cities): one payer paying
    >= lodging_min_places distinct payees (places or landlords) within lodging_days, for
    payments whose payee name or reference holds a keyword of the ``lodging`` list (hotels,
    hostels, short lets, rent in several languages). Ratio rule on the payees. Needs to_name or
    reference. Proof: those payments."""
    _paying(con, "lodge", "lodging")
    _windowed(con, "accommodation_payments", source="lodge", where="true", partition="account",
              counted="count(DISTINCT other)", minimum=p.lodging_min_places,
              days=p.lodging_days)  # fmt: skip
    con.execute("DROP TABLE lodge")


def transport_payments(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """DOMAIN.md F5 (FINTRAC 2021-OA001, FinCEN FIN-2020-A008: tickets bought for other
    passengers): one payer making >= transport_min travel purchases within transport_days
    (payee name or reference holding a keyword of the ``transport`` list: airlines, coaches,
    buses, tickets, "transport"; taxis and ride-hailing left out). Ratio rule on the purchases.
    Needs to_name or reference. Proof: those payments."""
    _paying(con, "trip", "transport")
    _windowed(con, "transport_payments", source="trip", where="true", partition="account",
              counted="count(*)", minimum=p.transport_min, days=p.transport_days)  # fmt: skip
    con.execute("DROP TABLE trip")


def _one_hit_per_account(con: duckdb.DuckDBPyConnection, pattern: str) -> None:
    """Keep one hit per account for ``pattern`` (its highest score), for detectors that
    insert from several rules."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE h1 AS SELECT pattern, account, max(score) AS score
        FROM hits WHERE pattern = '{pattern}' GROUP BY ALL;
        DELETE FROM hits WHERE pattern = '{pattern}';
        INSERT INTO hits SELECT * FROM h1;
        DROP TABLE h1"""
    )


def remittance_corridor(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """DOMAIN.md F9 (FinCEN FIN-2020-A008: remittances to origin countries; many senders to one
    beneficiary). A remittance: a payment between accounts of two different known countries
    (from_country/to_country when given, else an IBAN's first two letters; unknown otherwise,
    no guess), or one whose payment type, payee name or reference holds a keyword of the
    ``remittance`` list (money transfer operators) unless both countries are known and equal.
    Fires on (a) the payer of >= remit_min remittances to one country (payee's, possibly
    unknown for the typed ones) within remit_days, and (b) the beneficiary of remittances from
    >= remit_min_senders distinct senders within remit_days. Ratio rule (the higher of the
    two); proof: those remittances."""
    _paying(con, "typed", "remittance", columns=("ptype", "other_name", "ref"))
    # the IBAN-like account numbers' countries, once per account
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE iban AS SELECT account, c FROM (
            SELECT account, {_country("account", "NULL")} AS c FROM (
                SELECT DISTINCT account FROM legs))
        WHERE c IS NOT NULL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE rm AS
        WITH l AS (
            SELECT l.tid, l.account, l.other, l.dir, l.ts,
                coalesce(upper(l.country), a.c) AS c, coalesce(upper(l.other_country), o.c) AS oc,
                l.tid IN (SELECT tid FROM typed) AS typed
            FROM legs l LEFT JOIN iban a ON a.account = l.account
                LEFT JOIN iban o ON o.account = l.other
            WHERE l.amount > 0
        )
        SELECT * FROM l
        WHERE (c IS NOT NULL AND oc IS NOT NULL AND c <> oc)
            OR (typed AND NOT coalesce(c = oc, false))"""
    )
    _windowed(con, "remittance_corridor", source="rm", where="dir = 'out'",
              partition="(account, oc)", counted="count(*)", minimum=p.remit_min,
              days=p.remit_days)  # fmt: skip
    _windowed(con, "remittance_corridor", source="rm", where="dir = 'in'", partition="account",
              counted="count(DISTINCT other)", minimum=p.remit_min_senders,
              days=p.remit_days)  # fmt: skip
    _one_hit_per_account(con, "remittance_corridor")
    con.execute("DROP TABLE rm; DROP TABLE iban; DROP TABLE typed")


def _cash(direction: str) -> str:
    """SQL: a leg is a cash deposit (``in``) or withdrawal (``out``): its payment type holds a
    keyword of the ``cash_deposit`` / ``cash_withdrawal`` list, or its counterparty's account
    number begins with CASH (any case)."""
    words = "cash_deposit" if direction == "in" else "cash_withdrawal"
    return (
        f"(dir = '{direction}' AND (upper(other) LIKE 'CASH%'"
        f" OR ptype IN ({_keyword_values(words, 'ptype')})))"
    )


def cash_intensive(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """DOMAIN.md F2 (FATF-APG 2018 via ACFCS: business cash revenue with no wage or tax
    debits). For each account and currency with >= cash_min_deposits cash deposits (see
    ``_cash``): the share of its incoming amount that is cash. Its peers are those accounts;
    with >= cash_min_peers of them, an account fires when its robust z-score 0.6745 * (share -
    median) / MAD (the MAD floored at 0.01) is >= cash_min_z, and, when the file has payment
    types or references, it makes no outgoing payment whose type, payee or reference holds a
    keyword of the ``wages_tax`` list (salaries, payroll, tax authorities). Score: ratio rule
    on z. Proof: its cash deposits."""
    deposit = _cash("in")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ci AS
        SELECT account, cur, count_if({deposit}) AS n,
            sum(amount) FILTER (WHERE {deposit}) / nullif(sum(amount), 0) AS share
        FROM legs WHERE dir = 'in' GROUP BY account, cur
        HAVING count_if({deposit}) >= {int(p.cash_min_deposits)}"""
    )
    z_min = float(p.cash_min_z)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cz AS
        WITH st AS (
            SELECT median(share) AS med, mad(share) AS mad, count(*) AS peers FROM ci
            WHERE share IS NOT NULL
        )
        SELECT ci.account, ci.cur, 0.6745 * (share - med) / greatest(mad, 0.01) AS z
        FROM ci, st WHERE peers >= {int(p.cash_min_peers)} AND share IS NOT NULL
            AND 0.6745 * (share - med) / greatest(mad, 0.01) >= {z_min!r}"""
    )
    typed = con.execute(
        "SELECT count(*) FROM legs WHERE ptype IS NOT NULL OR ref IS NOT NULL"
    ).fetchone()
    if typed and typed[0]:
        _paying(con, "wt", "wages_tax", where="account IN (SELECT account FROM cz)",
                columns=("ptype", "other_name", "ref"))  # fmt: skip
        con.execute("DELETE FROM cz WHERE account IN (SELECT account FROM wt); DROP TABLE wt")
    con.execute(
        f"""INSERT INTO hits SELECT 'cash_intensive', account, least(1.0, 0.5 * max(z) / {z_min!r})
        FROM cz GROUP BY account"""
    )
    con.execute(
        f"""INSERT INTO proof SELECT DISTINCT 'cash_intensive', account, tid FROM legs
        JOIN cz USING (account, cur) WHERE {deposit}"""
    )
    con.execute("DROP TABLE ci; DROP TABLE cz")


def funnel(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """DOMAIN.md F7 (FinCEN FIN-2020-A008, funnel accounts): cash deposited into an account in
    one place and withdrawn from it in another within funnel_days. The place of a deposit is
    the country (else the bank) its payer side names, that of a withdrawal its payee side's
    (from_country/to_country, from_bank/to_bank: given fields only, not IBANs: a cash
    pseudo-account has no home); they differ when both countries are known and differ, or,
    without both countries, both banks are known and differ. Score by the number k of deposits
    so withdrawn: min(1, 0.5 + 0.125 * (k - 1)). Proof: both legs."""
    within = _interval(p.funnel_days)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fn AS
        WITH d AS (
            SELECT tid, account, ts, upper(other_country) AS c, lower(other_bank) AS b,
                unnest([bk, bk + 1]) AS bk
            FROM (SELECT *, {_bucket(p.funnel_days)} AS bk FROM legs WHERE {_cash("in")})
            WHERE other_country IS NOT NULL OR other_bank IS NOT NULL
        ), w AS (
            SELECT tid, account, ts, upper(other_country) AS c, lower(other_bank) AS b,
                {_bucket(p.funnel_days)} AS bk
            FROM legs WHERE {_cash("out")}
                AND (other_country IS NOT NULL OR other_bank IS NOT NULL)
        )
        SELECT d.account, d.tid AS tin, w.tid AS tout
        FROM d JOIN w ON w.account = d.account AND w.bk = d.bk
        WHERE w.ts >= d.ts AND w.ts <= d.ts + {within}
            AND CASE WHEN d.c IS NOT NULL AND w.c IS NOT NULL THEN d.c <> w.c
                ELSE coalesce(d.b <> w.b, false) END"""
    )
    con.execute(
        """INSERT INTO hits SELECT 'funnel', account,
            least(1.0, 0.5 + 0.125 * (count(DISTINCT tin) - 1)) FROM fn GROUP BY account"""
    )
    con.execute(
        """INSERT INTO proof SELECT DISTINCT 'funnel', account, tid FROM (
            SELECT account, tin AS tid FROM fn UNION ALL SELECT account, tout FROM fn)"""
    )
    con.execute("DROP TABLE fn")


PATTERNS: dict[str, Callable[[duckdb.DuckDBPyConnection, ScanParams], None]] = {
    "fan_in": fan_in,
    "fan_out": fan_out,
    "structuring": structuring,
    "round_amounts": round_amounts,
    "rapid_pass_through": rapid_pass_through,
    "pooled_wages": pooled_wages,
    "cycle": cycle,
    "gather_scatter": gather_scatter,
    "scatter_gather": scatter_gather,
    "ad_payments": ad_payments,
    "accommodation_payments": accommodation_payments,
    "transport_payments": transport_payments,
    "remittance_corridor": remittance_corridor,
    "cash_intensive": cash_intensive,
    "funnel": funnel,
}
