"""``palermo finance scan``: a scan of one transaction CSV for FIUs and banks, without a workspace:
the detectors, then (unless ``rules_only``) the risk scorer of ``model.py`` over them.

All in DuckDB SQL, vectorised: the file is read as text, checked (bad rows refused with file, row
and field), cast, split into legs (one per side of each transfer) and run through the detectors
of ``patterns.py``. Only the currency check runs in Python, over the *distinct* currency values.

Scores: each detector gives the accounts it fires on a score in [0, 1]; an account's score is
``1 - prod(1 - s)`` over its patterns (independent evidence), a transaction's the highest score
of the patterns it proves (the account's score for that pattern). With the model (the default),
``score`` is the model's probability instead, the rule score stays beside it (``rule_score``) and
each alert and flagged account says why (``because``: its top features); alerts are the
transactions at or above the model's threshold, each with the patterns that prove it (the
detectors alone prove most transactions of a busy file, fan_in on every shop: ``--rules-only``
lists what they prove).
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from babel import Locale
from babel.numbers import list_currencies

from palermo.errors import PalermoError
from palermo.finance.patterns import PATTERNS, ScanParams, unavailable
from palermo.store.duckdb_engine import DEFAULT_MEMORY

if TYPE_CHECKING:
    from collections.abc import Callable

    from palermo.finance.model import Scorer

REQUIRED = ("timestamp", "from_account", "to_account", "amount", "currency")
OPTIONAL = (
    "transaction_id",
    "from_bank",
    "to_bank",
    "payment_type",
    "from_name",
    "to_name",
    "from_country",
    "to_country",
    "reference",
)
FIELDS = ("transaction_id", *REQUIRED, *OPTIONAL[1:])
# layouts tried after ISO 8601 (with or without a UTC offset, converted to UTC); day-first
# slashed dates (01/02/2024) are ambiguous and not guessed
TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%d %H%M%S",
    "%Y%m%d",
)
# names some public data sets use instead of ISO 4217 codes (IBM AMLworld), and crypto codes
CURRENCY_ALIASES = {
    "YUAN": "CNY",
    "RUPEE": "INR",
    "YEN": "JPY",
    "UK POUND": "GBP",
    "RUBLE": "RUB",
    "BRAZIL REAL": "BRL",
    "SHEKEL": "ILS",
    "BITCOIN": "BTC",
    "BTC": "BTC",
    "XBT": "BTC",
}
SHOWN = 5  # bad rows named in an error


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _currency_codes() -> dict[str, str]:
    codes = {c.upper(): c.upper() for c in list_currencies()}
    names = {str(n).upper(): c for c, n in Locale("en").currencies.items() if c in codes}
    return {**names, **codes, **CURRENCY_ALIASES}


def _header(path: Path, encoding: str) -> list[str]:
    """The header as written, duplicates named pandas-style (Account, Account.1, ...)."""
    try:
        with path.open(encoding=encoding, newline="") as f:
            first = next(csv.reader(f), [])
    except (UnicodeDecodeError, LookupError, csv.Error) as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {exc}") from None
    seen: dict[str, int] = {}
    out = []
    for raw in first:
        name = raw.strip().lstrip("\ufeff")
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}.{n}")
    return out


def _columns(
    path: Path, header: list[str], columns: dict[str, str], default_currency: str | None
) -> dict[str, int]:
    """Field -> position in the header. A field is its own column unless --columns names
    another; transaction_id and the optional fields may be absent."""
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise PalermoError(
            f"--columns: unknown field(s) {', '.join(unknown)} (fields: {', '.join(FIELDS)})"
        )
    pos = {name: i for i, name in reversed(list(enumerate(header)))}
    found: dict[str, int] = {}
    missing = []
    for field in FIELDS:
        column = columns.get(field, field)
        if column in pos:
            found[field] = pos[column]
        elif field in columns or (
            field in REQUIRED and not (field == "currency" and default_currency)
        ):
            missing.append(f"{field} (column {column!r})")
    if missing and len(header) == 1 and any(c in header[0] for c in ";\t|"):
        raise PalermoError(f"{path}: not comma-separated (header: {header[0]!r})")
    if missing:
        raise PalermoError(
            f"{path}: missing column(s) {', '.join(missing)}; name them with --columns"
            f" field=COLUMN,... (columns: {', '.join(header) or 'none'})"
        )
    return found


def _csv_error(exc: duckdb.Error) -> str:
    """DuckDB's CSV error in one line: 'line 3: expected 6 columns, found 4'."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    width = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if line and width:
        return f"line {line[1]}: expected {width[1]} columns (as the header), found {width[2]}"
    if line:
        return f"line {line[1]}: {text.splitlines()[0]}"
    return text.splitlines()[0] if text else type(exc).__name__


def _reject(con: duckdb.DuckDBPyConnection, where: str, field: str, what: str) -> None:
    """Set aside the rows (not yet rejected) where ``where`` holds: field and reason."""
    con.execute(
        f"""INSERT INTO rejected SELECT row, '{field}', {what} FROM raw
        WHERE ({where}) AND row NOT IN (SELECT row FROM rejected)"""
    )


def _describe(bad: list[tuple[Any, ...]]) -> str:
    more = " and more" if len(bad) > SHOWN else ""
    return "; ".join(f"row {r}: {msg}" for r, msg in bad[:SHOWN]) + more


def read_transactions(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    columns: dict[str, str],
    default_currency: str | None = None,
    encoding: str = "utf-8",
) -> dict[str, Any]:
    """Read and check the file into table ``tx (tid, row, ts, src, dst, amount, cur, ...)`` (then
    the optional fields from_bank ... reference, NULL when absent). A file
    that cannot be read, or lacks columns, is refused whole; a row that fails a check (empty
    account, bad time or amount, unknown currency, a repeated transaction id) is set aside in
    table ``rejected (row, field, reason)`` with its reason, and the good rows are scanned.
    Returns facts for the summary."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PalermoError(f"{path}: empty file (no header, no transactions)")
    header = _header(path, encoding)
    found = _columns(path, header, columns, default_currency)
    names = [f"c{i}" for i in range(len(header))]
    col = {f: f"c{i}" for f, i in found.items()}
    label = {
        f: _lit(f"{f} (column {header[i]!r})" if header[i] != f else f) for f, i in found.items()
    }
    enc = (
        "utf-8"
        if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
        else encoding
    )
    select = [f"trim({c}) AS {f}" for f, c in col.items()]
    # no sniffing: comma-separated, double quotes, every row as wide as the header
    types = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    try:
        con.execute(
            f"""CREATE TABLE raw0 AS SELECT {", ".join(select)} FROM read_csv(?, header = true,
            auto_detect = false, columns = {types}, delim = ',', quote = '"', escape = '"',
            encoding = ?, strict_mode = true, null_padding = false)""",
            [str(path), enc],
        )
        # a table's rowid follows the file's order: rowid + 2 is the file's row (header = 1)
        con.execute("CREATE TABLE raw AS SELECT rowid + 2 AS row, * FROM raw0; DROP TABLE raw0")
    except duckdb.OutOfMemoryException:
        raise  # not the file's fault: scan() says how to give more memory
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {_csv_error(exc)}") from None
    rows = con.execute("SELECT count(*) FROM raw").fetchone()
    n_rows = int(rows[0]) if rows else 0
    if not n_rows:
        raise PalermoError(f"{path}: no transactions (a header and nothing else)")
    con.execute("CREATE TABLE rejected (row BIGINT, field VARCHAR, reason VARCHAR)")
    for f in ("from_account", "to_account"):
        _reject(con, f"coalesce({f}, '') = ''", f, f"'empty {label[f]}'")
    # timestamps: ISO 8601 (offsets converted to UTC), then the layouts of TIME_FORMATS
    formats = "[" + ", ".join(f"'{f}'" for f in TIME_FORMATS) + "]"
    ts = (
        f"coalesce(TRY_CAST(timestamp AS TIMESTAMPTZ)::TIMESTAMP,"
        f" try_strptime(timestamp, {formats}))"
    )
    _reject(con, f"{ts} IS NULL", "timestamp",
            f"'{label['timestamp']} is not a date/time: ' || coalesce('''' || timestamp || '''', 'empty')")  # fmt: skip
    amount = "TRY_CAST(amount AS DOUBLE)"
    _reject(con, f"{amount} IS NULL OR NOT isfinite({amount}) OR {amount} < 0", "amount",
            f"'{label['amount']} is not a number >= 0: ' || coalesce('''' || amount || '''', 'empty')")  # fmt: skip
    notes: list[str] = []
    if "currency" in found:
        known = _currency_codes()
        distinct = [r[0] for r in con.execute("SELECT DISTINCT currency FROM raw").fetchall()]
        table = pa.table({
            "raw": pa.array(distinct, pa.string()),
            "code": pa.array([known.get((d or "").strip().upper()) for d in distinct], pa.string()),
        })  # fmt: skip
        con.register("currency_codes", table)
        con.execute("CREATE TABLE cur AS SELECT * FROM currency_codes")
        con.unregister("currency_codes")
        _reject(
            con,
            "currency IS NULL OR currency IN (SELECT raw FROM cur WHERE code IS NULL)",
            "currency",
            f"'{label['currency']} is not an ISO 4217 currency: ' || coalesce(chr(39) || currency"
            " || chr(39), 'empty')",
        )
        cur, join = "cur.code", "LEFT JOIN cur ON raw.currency IS NOT DISTINCT FROM cur.raw"
    else:
        code = _currency_codes().get((default_currency or "").strip().upper())
        if code is None:
            raise PalermoError(f"--currency: {default_currency!r} is not an ISO 4217 currency")
        cur, join = f"'{code}'", ""
        notes.append(f"no currency column: every amount taken as {code} (--currency)")
    if "transaction_id" in found:
        _reject(con, "coalesce(transaction_id, '') = ''", "transaction_id",
                f"'empty {label['transaction_id']}'")  # fmt: skip
        # a repeated id: the first row keeps it, the later ones are set aside
        con.execute(
            f"""INSERT INTO rejected SELECT row, 'transaction_id', 'duplicate {label["transaction_id"]} '
              || chr(39) || transaction_id || chr(39) || ' (first on row ' || first_row || ')'
            FROM (SELECT row, transaction_id, min(row) OVER (PARTITION BY transaction_id)
                    AS first_row FROM raw WHERE row NOT IN (SELECT row FROM rejected))
            WHERE row > first_row"""
        )
        tid = "transaction_id"
        id_note = f"transaction_id: column {header[found['transaction_id']]!r}"
    else:
        tid = "row"
        id_note = "transaction_id: no such column; a transaction's id is its row in the file (header = row 1)"
        notes.append(id_note)
    rejected = con.execute(
        f"SELECT row, reason FROM rejected ORDER BY row LIMIT {SHOWN + 1}"
    ).fetchall()
    n_rejected = int(con.execute("SELECT count(*) FROM rejected").fetchall()[0][0])
    if n_rejected == n_rows:
        raise PalermoError(f"{path}: no valid transaction: {_describe(rejected)}")
    if n_rejected:
        notes.append(
            f"{n_rejected} row(s) set aside, each with its reason in rejected.csv"
            f" ({_describe(rejected)}); the other rows were scanned"
        )
    # the optional text fields (names, banks, countries, payment type, reference): NULL when
    # absent or empty
    extra = ", ".join(
        f"nullif({f}, '') AS {f}" if f in found else f"NULL::VARCHAR AS {f}" for f in OPTIONAL[1:]
    )
    con.execute(
        f"""CREATE TABLE tx AS SELECT {tid} AS tid, row, {ts} AS ts, from_account AS src,
            to_account AS dst, CAST(amount AS DOUBLE) AS amount, {cur} AS cur, {extra}
            FROM raw {join} WHERE row NOT IN (SELECT row FROM rejected)"""
    )
    notes.extend(unavailable(set(found)))
    return {"rows": n_rows, "rejected": n_rejected, "transaction_id": id_note, "notes": notes}


def scan(
    path: Path,
    *,
    out: Path,
    columns: dict[str, str] | None = None,
    params: ScanParams | None = None,
    default_currency: str | None = None,
    encoding: str = "utf-8",
    rules_only: bool = False,
    model_dir: Path | None = None,
    inspect: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Scan ``path`` and write ``alerts.csv``, ``accounts.csv`` and ``summary.json`` to ``out``.
    Scores by the risk model shipped with the package (or the one in ``model_dir``) unless
    ``rules_only`` (then no model is loaded). ``inspect`` is called with the DuckDB connection
    before it closes (its tables: ``tx``, ``legs``, ``hits``, ``proof``; with the model also
    ``acc_feat``, ``tx_feat``, ``acc_model``, ``tx_model``). Returns the summary."""
    p = params or ScanParams()
    scorer = None
    if not rules_only:
        from palermo.finance.model import load

        scorer = load(model_dir)
    # bounded memory, as the workspace's engine: what does not fit spills to a scratch folder
    # (a 1M-transaction scan peaked at 2.97 GB unbounded, 1.63 GB at 1.5 GB, ~15% slower)
    spill = tempfile.TemporaryDirectory(prefix="palermo-scan-")
    con = duckdb.connect(
        config={"memory_limit": memory_limit or DEFAULT_MEMORY, "temp_directory": spill.name}
    )
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")
        facts = read_transactions(con, Path(path), columns or {}, default_currency, encoding)
        summary = _scan(con, Path(path), Path(out), p, facts, scorer)
        if inspect is not None:
            con.execute("SELECT 1").fetchall()  # no pending result left: inspect may use con.sql
            inspect(con)
        return summary
    except duckdb.OutOfMemoryException as exc:
        raise PalermoError(
            f"{path}: the scan ran out of memory at its limit ({memory_limit or DEFAULT_MEMORY}):"
            f" give more with --memory (e.g. --memory 8GB): {str(exc).splitlines()[0]}"
        ) from None
    finally:
        con.close()
        spill.cleanup()


def _scan(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    out: Path,
    p: ScanParams,
    facts: dict[str, Any],
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    detect_all(con, p)
    return _report(con, path, out, p, facts, scorer)


def detect_all(con: duckdb.DuckDBPyConnection, p: ScanParams) -> None:
    """Tables ``legs``, ``hits`` and ``proof`` from ``tx``: every detector of ``PATTERNS``."""
    # legs: both sides of every transfer that is not a self-transfer; sorted by time (the
    # windows sort anyway; the order only fixes the tables' layout). The optional fields as
    # seen from the leg's account (name, bank, country) and its counterparty (other_*)
    con.execute(
        """CREATE TABLE legs AS
        SELECT tid, src AS account, dst AS other, 'out' AS dir, ts, amount, cur,
            from_name AS name, to_name AS other_name, from_bank AS bank, to_bank AS other_bank,
            from_country AS country, to_country AS other_country, payment_type AS ptype,
            reference AS ref
        FROM tx WHERE src <> dst
        UNION ALL
        SELECT tid, dst, src, 'in', ts, amount, cur, to_name, from_name, to_bank, from_bank,
            to_country, from_country, payment_type, reference
        FROM tx WHERE src <> dst
        ORDER BY ts, tid, dir"""
    )
    con.execute("CREATE TABLE hits (pattern VARCHAR, account VARCHAR, score DOUBLE)")
    tid_type = con.execute("SELECT typeof(tid) FROM tx LIMIT 1").fetchone()
    con.execute(
        f"CREATE TABLE proof (pattern VARCHAR, account VARCHAR, tid {tid_type[0] if tid_type else 'VARCHAR'})"
    )
    for detect in PATTERNS.values():
        detect(con, p)


def _report(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    out: Path,
    p: ScanParams,
    facts: dict[str, Any],
    scorer: Scorer | None,
) -> dict[str, Any]:
    """Score by the model (unless rules-only), write the files, return the summary."""
    model: dict[str, Any] | None = None
    if scorer is not None:
        from palermo.finance.model import score_scan, write_scored

        model = score_scan(con, scorer)
    out.mkdir(parents=True, exist_ok=True)
    if model is not None:
        write_scored(con, out, model["threshold"])
    else:
        con.execute(
            f"""COPY (
                SELECT pr.tid AS transaction_id, round(max(h.score), 6) AS score,
                    string_agg(DISTINCT pr.pattern, ';' ORDER BY pr.pattern) AS patterns
                FROM proof pr JOIN hits h USING (pattern, account)
                GROUP BY pr.tid ORDER BY score DESC, transaction_id
            ) TO '{_lit(out / "alerts.csv")}' (HEADER, DELIMITER ',')"""
        )
        con.execute(
            f"""COPY (
                WITH acc AS (SELECT src AS account FROM tx UNION SELECT dst FROM tx),
                s AS (
                    SELECT account, round(1 - product(1 - score), 6) AS score,
                        string_agg(pattern, ';' ORDER BY pattern) AS patterns
                    FROM hits GROUP BY account
                )
                SELECT account, coalesce(s.score, 0.0) AS score, s.patterns
                FROM acc LEFT JOIN s USING (account) ORDER BY score DESC, account
            ) TO '{_lit(out / "accounts.csv")}' (HEADER, DELIMITER ',')"""
        )
    per = {name: {"accounts": 0, "transactions": 0} for name in PATTERNS}
    for name, n in con.execute("SELECT pattern, count(*) FROM hits GROUP BY ALL").fetchall():
        per[name]["accounts"] = int(n)
    for name, n in con.execute(
        "SELECT pattern, count(DISTINCT tid) FROM proof GROUP BY ALL"
    ).fetchall():
        per[name]["transactions"] = int(n)
    stats = con.execute(
        """SELECT (SELECT count(*) FROM (SELECT src FROM tx UNION SELECT dst FROM tx)),
            count_if(src = dst), min(ts), max(ts), list(DISTINCT cur ORDER BY cur)
        FROM tx"""
    ).fetchone()
    alerts = con.execute("SELECT count(DISTINCT tid) FROM proof").fetchone()
    flagged = con.execute("SELECT count(DISTINCT account) FROM hits").fetchone()
    assert stats is not None and alerts is not None and flagged is not None
    accounts, self_transfers, first, last, currencies = stats
    notes = list(facts["notes"])
    if self_transfers:
        notes.append(f"{self_transfers} self-transfer(s) (from = to) kept out of the patterns")
    summary: dict[str, Any] = {
        "file": str(path),
        "rows": facts["rows"],
        "rows_rejected": facts["rejected"],
        "self_transfers": int(self_transfers),
        "accounts": int(accounts),
        "accounts_flagged": int(flagged[0]),
        "alerts": int(alerts[0]) if model is None else model["alerts"],
        "alerts_by_rules": int(alerts[0]),
        "alerts_per_pattern": per,
        "first_timestamp": first.isoformat(sep=" ") if first else None,
        "last_timestamp": last.isoformat(sep=" ") if last else None,
        "currencies": list(currencies),
        "transaction_id": facts["transaction_id"],
        "parameters": asdict(p),
        "mode": "rules-only" if model is None else "model",
        "scoring": "pattern scores in [0, 1]; account score = 1 - prod(1 - pattern score);"
        " transaction score = max over the patterns it proves of that pattern's account score"
        if model is None
        else "score = the risk model's probability of laundering (LightGBM on the pattern and"
        " graph features, trained on simulated cases); rule_score = the rules-only score;"
        " because = the top features by SHAP contribution (log-odds); alerts = transactions"
        " with score >= model.threshold (model.proven_below_threshold: proven by a pattern,"
        " below it)",
        "model": model,
        "notes": notes,
    }
    rejected_csv = out / "rejected.csv"
    if facts["rejected"]:
        con.execute(
            f"""COPY (SELECT r.row, r.field, r.reason, to_json(raw) AS record FROM rejected r
            JOIN raw USING (row) ORDER BY r.row) TO '{_lit(rejected_csv)}' (HEADER, DELIMITER ',')"""
        )
    elif rejected_csv.exists():
        rejected_csv.unlink()  # from an earlier scan into the same folder
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return {**summary, "out": str(out)}


def _lit(text: str | Path) -> str:
    """``text`` inside a SQL string literal."""
    return str(text).replace("'", "''")
