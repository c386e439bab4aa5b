"""A simulated case's bank statements as one transaction file for ``palermo finance scan``, and the
case's ground truth as labels (for ``palermo finance train`` and ``palermo finance evaluate``).

``to_csv(case, out_csv)`` reads every bank file the case's ``manifest.json`` lists with mapping
``payments`` (its ``delimiter``, ``columns`` (field -> column), ``options.decimal_comma``,
``options.datetime_formats`` and ``options.timezone``) with DuckDB ``read_csv``, all in SQL, and
writes one comma-separated file with the scan's fields: ``transaction_id, timestamp`` (UTC, ISO
8601 with ``Z``), ``from_account, to_account, amount`` (decimal point), ``currency, from_bank,
to_bank, payment_type, from_name, to_name, from_country, to_country, reference`` (empty where the
bank does not export the field), then ``source_file, source_row`` (where the row came from; the
scan does not read them). goAML reports (mapping ``goaml``) repeat rows the banks export and are
skipped. A value that cannot be converted (the simulator breaks a few background rows on purpose,
``truth/broken_rows.csv``) is written as the bank wrote it, for the scan to set aside with its
reason.

The simulator books each transfer once, in the payer's bank's file (``simulate/banks.py``:
``write_month`` splits by ``acc_bank[payer]``; ids are ``<BANK>-<sequence>``), and a payee's bank
may export the same transfer too in other data: a transfer is therefore kept once, the first time
it is seen in manifest order, a later row being dropped when it repeats a ``transaction_id`` already
kept, or when it comes from *another* file and repeats a kept transfer's UTC timestamp, payer and
payee (the same transfer booked by the payee's bank under its own reference, maybe in its own
currency). Both counts are in the facts returned.

Labels (``labels(case)``):

* a **laundering transaction** is one that ``truth/transactions.csv`` lists: every observed
  criminal transaction (wages into controlled accounts, pooled wages, sweeps, structuring,
  transfers to mules, remittances, fees, rent, asset purchases, ...), matched by
  ``transaction_id``;
* a **laundering account** is a bank account (``truth/accounts.csv``) that the network holds or
  uses: held by an offender (``truth/members.csv``), controlled by one (``controlled_by``: victims'
  accounts whose cards the controllers keep), or held by one of the network's front or holding
  companies (``truth/companies.csv`` ``front_of``, ``truth/networks.csv``
  ``holding_company_id``). Accounts that merely receive or send criminal money (a landlord paid
  rent, a client paying by card, a victim's own wage account the network does not control) are
  not. The banks' cash pseudo-accounts (``CASH-...``) are no one's and are kept out of account
  metrics (``CASH_PREFIX``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from palermo.errors import PalermoError
from palermo.finance.scan import FIELDS

CANONICAL = FIELDS  # the scan's fields, in its order
CASH_PREFIX = "CASH-"
DEFAULT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TRANSACTION_DEFINITION = (
    "a transaction listed in truth/transactions.csv (every observed criminal transaction)"
)
ACCOUNT_DEFINITION = (
    "an account held by an offender (truth/members.csv), controlled by one (truth/accounts.csv"
    " controlled_by) or held by a front or holding company of the network (truth/companies.csv"
    " front_of, truth/networks.csv holding_company_id); CASH- pseudo-accounts are left out"
)


def _lit(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def manifest(case: Path) -> dict[str, Any]:
    path = Path(case) / "manifest.json"
    if not path.is_file():
        raise PalermoError(f"{case}: not a simulated case (no manifest.json)")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PalermoError(f"{path}: cannot be read: {exc}") from None
    return data


def bank_files(case: Path) -> list[dict[str, Any]]:
    """The manifest's bank statement entries (mapping ``payments``, CSV), in manifest order."""
    entries = [
        e
        for e in manifest(case).get("files", [])
        if e.get("mapping") == "payments" and str(e.get("path", "")).lower().endswith(".csv")
    ]
    if not entries:
        raise PalermoError(f"{case}: its manifest lists no bank statement (mapping 'payments')")
    return entries


def _select(con: duckdb.DuckDBPyConnection, case: Path, entry: dict[str, Any], k: int) -> str:
    """One bank file read into table ``f<k>`` (its rowid follows the file's order: row = rowid +
    2, the header being row 1), and a SELECT of it giving the canonical fields (VARCHAR),
    source_file, file_no, source_row and ts_utc."""
    path = Path(case) / entry["path"]
    if not path.is_file():
        raise PalermoError(f"{path}: listed in the manifest but missing")
    delim = str(entry.get("delimiter", ","))
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f, delimiter=delim), [])
    header = [h.lstrip("\ufeff") for h in header]
    names = [f"c{i}" for i in range(len(header))]
    pos = {h: i for i, h in reversed(list(enumerate(header)))}
    mapped = {**{f: f for f in CANONICAL}, **entry.get("columns", {})}
    col: dict[str, str | None] = {
        f: (names[pos[mapped[f]]] if mapped[f] in pos else None) for f in CANONICAL
    }
    for f in ("timestamp", "from_account", "to_account", "amount"):
        if col[f] is None:
            raise PalermoError(f"{path}: no column for {f} (manifest columns {mapped[f]!r})")
    options = entry.get("options", {})
    formats = options.get("datetime_formats") or [DEFAULT_TIME_FORMAT]
    tz = str(options.get("timezone", "UTC"))
    fmt = "[" + ", ".join(_lit(x) for x in formats) + "]"
    local = f"try_strptime(trim({col['timestamp']}), {fmt})"
    if any("%z" in x.lower() for x in formats):
        utc = f"timezone('UTC', {local}::TIMESTAMPTZ)"
    elif tz.upper() == "UTC":
        utc = f"{local}::TIMESTAMP"
    else:
        utc = f"timezone('UTC', timezone({_lit(tz)}, {local}::TIMESTAMP))"
    amount = f"trim({col['amount']})"
    if options.get("decimal_comma"):
        amount = f"replace(replace({amount}, '.', ''), ',', '.')"
    expr: dict[str, str] = {}
    for f in CANONICAL:
        expr[f] = f"trim({col[f]})" if col[f] else "NULL::VARCHAR"
    expr["timestamp"] = f"coalesce(strftime({utc}, '%Y-%m-%dT%H:%M:%SZ'), trim({col['timestamp']}))"
    expr["amount"] = amount
    types = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    fields = ", ".join(f"{expr[f]} AS {f}" for f in CANONICAL)
    try:
        con.execute(
            f"""CREATE TABLE f{k} AS SELECT * FROM read_csv({_lit(path)}, header = true,
            auto_detect = false, columns = {types}, delim = {_lit(delim)}, quote = '"',
            escape = '"', strict_mode = true, null_padding = false)"""
        )
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from None
    return f"""SELECT {fields}, {_lit(path.name)} AS source_file, {k} AS file_no,
        rowid + 2 AS source_row, {utc} AS ts_utc FROM f{k}"""


@dataclass(frozen=True)
class Labels:
    transactions: frozenset[str]  # laundering transaction ids
    accounts: frozenset[str]  # laundering accounts (no CASH- pseudo-accounts)
    all_accounts: frozenset[str]  # every account the truth knows (no CASH- pseudo-accounts)


def to_csv(case: Path, out_csv: Path) -> dict[str, Any]:
    """Write the case's bank transactions, deduplicated, to ``out_csv``; returns facts (files,
    rows read, duplicates dropped by id and by content, rows written)."""
    case = Path(case)
    entries = bank_files(case)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")
        parts = [_select(con, case, e, k) for k, e in enumerate(entries)]
        con.execute(f"CREATE TABLE allrows AS {' UNION ALL '.join(parts)}")
        # first by id (in manifest order), then the same transfer from another file
        con.execute(
            """CREATE TABLE byid AS SELECT * FROM allrows
            QUALIFY row_number() OVER (PARTITION BY coalesce(transaction_id,
                source_file || ':' || source_row) ORDER BY file_no, source_row) = 1"""
        )
        con.execute(
            """CREATE TABLE kept AS SELECT * EXCLUDE (first_file) FROM (
                SELECT *, min(file_no) OVER (PARTITION BY ts_utc, from_account, to_account)
                    AS first_file FROM byid)
            WHERE ts_utc IS NULL OR from_account IS NULL OR to_account IS NULL
                OR file_no = first_file"""
        )
        out_csv = Path(out_csv)
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"""COPY (SELECT {", ".join(CANONICAL)}, source_file, source_row FROM kept
            ORDER BY file_no, source_row) TO {_lit(out_csv)} (HEADER, DELIMITER ',')"""
        )
        counts = con.execute(
            "SELECT (SELECT count(*) FROM allrows), (SELECT count(*) FROM byid),"
            " (SELECT count(*) FROM kept)"
        ).fetchone()
        assert counts is not None
        read, by_id, kept = (int(c) for c in counts)
    finally:
        con.close()
    return {
        "case": str(case),
        "files": [e["path"] for e in entries],
        "rows_read": read,
        "duplicates_by_id": read - by_id,
        "duplicates_by_content": by_id - kept,
        "rows": kept,
        "out": str(out_csv),
    }


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise PalermoError(f"{path}: missing (a simulated case's truth/ folder is needed)")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def labels(case: Path) -> Labels:
    """The case's laundering transactions and accounts (see the module's docstring)."""
    truth = Path(case) / "truth"
    tx = frozenset(r["transaction_id"] for r in _rows(truth / "transactions.csv"))
    members = {r["person_id"] for r in _rows(truth / "members.csv")}
    fronts = {r["company_id"] for r in _rows(truth / "companies.csv") if r.get("front_of")}
    fronts |= {
        r["holding_company_id"]
        for r in _rows(truth / "networks.csv")
        if r.get("holding_company_id")
    }
    accounts = _rows(truth / "accounts.csv")
    real = [a for a in accounts if not a["account"].startswith(CASH_PREFIX)]
    bad = frozenset(
        a["account"]
        for a in real
        if a.get("holder_id") in members
        or a.get("controlled_by") in members
        or (a.get("holder_kind") == "company" and a.get("holder_id") in fronts)
    )
    return Labels(tx, bad, frozenset(a["account"] for a in real))
