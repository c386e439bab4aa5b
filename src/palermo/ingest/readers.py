"""Readers turn a source file into a staged table of text columns plus ``_row`` (where the record
sits in the file: spreadsheet numbering for CSV/XLSX, with the header as row 1; the line for JSON
lines; the element's line for XML). A file that cannot be read at all raises ``SourceError`` with
one line naming the file and the problem; records that are broken on their own come back as
rejects, to be quarantined while the rest of the file lands."""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from lxml import etree

from palermo.errors import SourceError
from palermo.store.engine import Engine
from palermo.store.loader import RAW_LIMIT, q

STAGE = "_stage"
BATCH = 50_000
SNIFF_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
MAX_LINE_BYTES = 8 << 20  # a longer record is quarantined, never read into memory whole


@dataclass
class Staged:
    """What a reader staged: the table's source columns and the records it had to reject."""

    columns: list[str]
    rejects: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


# -- CSV ------------------------------------------------------------------------------------------
def _detect_encoding(head: bytes, name: str, encoding: str | None) -> str:
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise SourceError(f"{name}: unknown encoding {encoding!r}") from None
        return encoding
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        offset = head.index(b"\x00")
        raise SourceError(f"{name}: looks binary (NUL byte at offset {offset}), not a text table")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{name}: not UTF-8 (byte 0x{head[exc.start]:02x} at offset {exc.start}, line {line});"
            " give its encoding, e.g. --encoding cp1252 or --encoding latin-1"
        ) from None
    return "utf-8"


def _transcode(path: Path, encoding: str, tmp_dir: Path, name: str) -> Path:
    """Re-encode a non-UTF-8 file to UTF-8 in the workspace's tmp folder (the evidence keeps the
    original bytes); DuckDB reads UTF-8 only without extensions, which are never downloaded."""
    out = tmp_dir / f"{path.name}.utf8"
    try:
        with (
            open(path, encoding=encoding, newline="") as src,
            open(out, "w", encoding="utf-8", newline="") as dst,
        ):
            while chunk := src.read(1 << 20):
                dst.write(chunk.removeprefix("\ufeff") if dst.tell() == 0 else chunk)
    except UnicodeDecodeError as exc:
        out.unlink(missing_ok=True)
        raise SourceError(
            f"{name}: not valid {encoding}: {exc.reason} at byte {exc.start}"
        ) from None
    return out


def _header(text_head: str, name: str, delimiter: str | None) -> tuple[list[str], str]:
    first = text_head.lstrip("\ufeff")
    if not first.strip():
        raise SourceError(f"{name}: empty file (no header row)")
    line = first.splitlines()[0]
    delim = delimiter or max(DELIMITERS, key=line.count)
    try:
        header = next(csv.reader(io.StringIO(first), delimiter=delim, quotechar='"'))
    except csv.Error as exc:
        raise SourceError(f"{name}: cannot read the header row: {exc}") from None
    columns: list[str] = []
    for i, col in enumerate(header, start=1):
        col = col.strip() or f"column_{i}"
        if col in columns:
            raise SourceError(f"{name}: column {col!r} appears twice in the header")
        columns.append(col)
    return columns, delim


def csv_header(
    path: Path, name: str, *, delimiter: str | None = None, encoding: str | None = None
) -> list[str]:
    """The columns of a CSV file's header row, read as ``stage_csv`` reads them (to check a file
    before anything is ingested)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    enc = _detect_encoding(head, name, encoding)
    text_head = head.decode(enc, errors="replace")
    return _header(text_head, name, delimiter)[0]


def stage_csv(
    engine: Engine,
    path: Path,
    name: str,
    tmp_dir: Path,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    trim: Collection[str] | None = None,
) -> Staged:
    """Stage a CSV file as the view ``_stage`` (VARCHAR columns and ``_row``); the ``trim``
    columns (default: all) are trimmed, empty values NULL."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    enc = _detect_encoding(head, name, encoding)
    source = path
    if codecs.lookup(enc).name != "utf-8":
        source = _transcode(path, enc, tmp_dir, name)
        with open(source, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    text_head = head.decode("utf-8", errors="replace")
    columns, delim = _header(text_head, name, delimiter)
    struct = "{" + ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in columns) + "}"
    # staged values are trimmed and empty ones NULL (see loader.load_tabular), here where the
    # file is read anyway, not again by each step that reads the stage
    # (trim only what starts or ends with a space: half the cost of trimming every value)
    select = ", ".join(
        f"NULLIF(CASE WHEN starts_with({q(c)}, ' ') OR ends_with({q(c)}, ' ') THEN trim({q(c)})"
        f" ELSE {q(c)} END, '') AS {q(c)}"
        if trim is None or c in trim
        else q(c)
        for c in columns
    )
    engine.execute("DROP TABLE IF EXISTS _raw")
    engine.execute("DROP TABLE IF EXISTS _csv_rejects")
    engine.execute("DROP TABLE IF EXISTS _csv_reject_scans")
    engine.execute(
        # No row_number() OVER (): it doubled the cost of staging. The records keep their order
        # (insertion order is preserved) and their rowids are consecutive from some base.
        f"CREATE TEMP TABLE _raw AS SELECT {select}"
        f" FROM read_csv({_sql_str(str(source))},"
        f" columns = {struct}, header = true, delim = {_sql_str(delim)}, quote = '\"',"
        " escape = '\"', auto_detect = false, strict_mode = true, null_padding = false,"
        # no explicit buffer_size: with one, DuckDB 2.0 drops over-long lines without a reject
        f" max_line_size = {MAX_LINE_BYTES}, store_rejects = true,"
        " rejects_table = '_csv_rejects', rejects_scan = '_csv_reject_scans')"
    )
    rejects = _csv_rejects(engine, name)
    base, top, count = engine.rows("SELECT min(rowid), max(rowid), count(*) FROM _raw")[0]
    if count and top - base + 1 != count:  # pragma: no cover - a change in DuckDB's storage
        raise SourceError(f"{name}: staged records are not numbered consecutively")
    k = f"(r.rowid - {int(base or 0)})"  # the record's position among the good records, from 0
    # Records keep their order (preserve_insertion_order); a good record's row is its position
    # plus the header plus the rejected records before it.
    if rejects:
        shifts = pa.table({"line": pa.array(sorted(r["row"] for r in rejects), pa.int64())})
        engine.register("_reject_lines", shifts)
        try:
            # k: how many good records come before each rejected one
            engine.execute(
                "CREATE OR REPLACE TEMP TABLE _reject_shift AS"
                " SELECT line - 1 - row_number() OVER (ORDER BY line) AS k FROM _reject_lines"
            )
        finally:
            engine.unregister("_reject_lines")
        engine.execute(
            f"CREATE OR REPLACE TEMP VIEW {STAGE} AS SELECT {k} + 2 + ("
            f" SELECT count(*) FROM _reject_shift g WHERE g.k <= {k}) AS _row, r.* FROM _raw r"
        )
    else:
        # a view, not a copy: the staged file is read once more by the loader, never duplicated
        engine.execute(
            f"CREATE OR REPLACE TEMP VIEW {STAGE} AS SELECT {k} + 2 AS _row, r.* FROM _raw r"
        )
    engine.execute("DROP TABLE IF EXISTS _csv_rejects")
    engine.execute("DROP TABLE IF EXISTS _csv_reject_scans")
    if source != path:
        source.unlink(missing_ok=True)
    return Staged(columns, rejects, {"delimiter": delim, "encoding": enc})


_REJECT_REASONS = {
    "MISSING COLUMNS": "too few fields",
    "TOO MANY COLUMNS": "too many fields (is a delimiter or quote unescaped?)",
    "UNQUOTED VALUE": "a quote inside an unquoted value",
    "LINE SIZE OVER MAXIMUM": f"record longer than {MAX_LINE_BYTES >> 20} MiB",
    "INVALID ENCODING": "bytes that are not valid UTF-8",
    "INVALID STATE": "unterminated or malformed quoting",
}


def _csv_rejects(engine: Engine, name: str) -> list[dict[str, Any]]:
    rows = engine.rows(
        "SELECT line, any_value(column_name), string_agg(DISTINCT CAST(error_type AS VARCHAR), ', '),"
        " any_value(left(csv_line, ?)), any_value(error_message)"
        " FROM _csv_rejects GROUP BY line ORDER BY line",
        [RAW_LIMIT],
    )
    out = []
    for line, column, types, raw, message in rows:
        reasons = [_REJECT_REASONS.get(t.strip(), t.strip()) for t in str(types).split(",")]
        out.append(
            {
                "row": int(line),
                "field": column,
                "reason": "; ".join(reasons) + f" ({str(message).splitlines()[0][:200]})",
                "raw": raw,
            }
        )
    return out


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- staging rows built in Python (XLSX, goAML) ---------------------------------------------------
def drop_stage(engine: Engine) -> None:
    """Drop whatever a reader staged (a view over ``_raw`` for CSV, a table otherwise)."""
    kinds = dict(
        engine.rows(
            "SELECT table_name, table_type FROM information_schema.tables"
            f" WHERE table_name IN ('{STAGE}', '_raw', '_stage_only', '_reject_shift')"
        )
    )
    for name in (STAGE, "_stage_only", "_raw", "_reject_shift"):
        if name in kinds:
            engine.execute(f"DROP {'VIEW' if kinds[name] == 'VIEW' else 'TABLE'} {name}")


def _trimmed(value: str | None) -> str | None:
    """A staged value: trimmed of spaces as SQL ``trim`` does, NULL when empty."""
    return (value.strip(" ") or None) if value is not None else None


def _stage_batches(
    engine: Engine, columns: list[str], rows: Iterator[tuple[int, dict[str, str | None]]]
) -> int:
    cols_sql = ", ".join(f"{q(c)} VARCHAR" for c in columns)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} (_row BIGINT, {cols_sql})")
    count = 0
    batch: list[tuple[int, dict[str, str | None]]] = []

    def flush() -> None:
        table = pa.table(
            {
                "_row": pa.array([r for r, _ in batch], pa.int64()),
                **{
                    c: pa.array([_trimmed(rec.get(c)) for _, rec in batch], pa.string())
                    for c in columns
                },
            }
        )
        engine.register("_batch", table)
        try:
            engine.execute(f"INSERT INTO {STAGE} SELECT * FROM _batch")
        finally:
            engine.unregister("_batch")
        batch.clear()

    for item in rows:
        batch.append(item)
        count += 1
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return count


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.removesuffix("T00:00:00")
    return str(value)


def xlsx_header(path: Path, name: str, *, sheet: str | None = None) -> list[str]:
    """The columns of an XLSX sheet's header row (to check a file before anything is ingested)."""
    book, ws = _open_sheet(path, name, sheet)
    try:
        return _sheet_columns(ws.iter_rows(values_only=True), name)
    finally:
        book.close()


def _open_sheet(path: Path, name: str, sheet: str | None) -> tuple[Any, Any]:
    from openpyxl import load_workbook

    try:
        # a file object: openpyxl checks the file name's extension, and evidence copies have none
        book = load_workbook(open(path, "rb"), read_only=True, data_only=True)  # noqa: SIM115
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceError(
            f"{name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})"
        ) from None
    try:
        ws = book[sheet] if sheet else book.worksheets[0]
    except KeyError:
        names = ", ".join(book.sheetnames)
        book.close()
        raise SourceError(f"{name}: no sheet {sheet!r} (sheets: {names})") from None
    return book, ws


def _sheet_columns(rows: Iterator[tuple[Any, ...]], name: str) -> list[str]:
    try:
        header_row = next(rows)
    except StopIteration:
        raise SourceError(f"{name}: the sheet is empty (no header row)") from None
    columns: list[str] = []
    for i, cell in enumerate(header_row, start=1):
        col = (_cell_text(cell) or "").strip() or f"column_{i}"
        if col in columns:
            raise SourceError(f"{name}: column {col!r} appears twice in the header")
        columns.append(col)
    return columns


def stage_xlsx(engine: Engine, path: Path, name: str, *, sheet: str | None = None) -> Staged:
    book, ws = _open_sheet(path, name, sheet)
    rows = ws.iter_rows(values_only=True)
    columns = _sheet_columns(rows, name)

    def records() -> Iterator[tuple[int, dict[str, str | None]]]:
        for number, row in enumerate(rows, start=2):
            if row is None or all(v is None or v == "" for v in row):
                continue
            yield number, {c: _cell_text(v) for c, v in zip(columns, row, strict=False)}

    _stage_batches(engine, columns, records())
    book.close()
    return Staged(columns, [], {"sheet": ws.title})


# -- goAML XML ------------------------------------------------------------------------------------
def _text(el: Any, path: str) -> str | None:
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return str(found.text).strip() or None


def _person(prefix: str, person: Any, out: dict[str, str | None]) -> None:
    out[f"{prefix}_first_name"] = _text(person, "first_name")
    out[f"{prefix}_last_name"] = _text(person, "last_name")
    out[f"{prefix}_birth_date"] = _text(person, "birthdate")
    out[f"{prefix}_gender"] = _text(person, "gender")
    out[f"{prefix}_id_number"] = (
        _text(person, "id_number") or _text(person, "ssn") or _text(person, "identification/number")
    )
    out[f"{prefix}_passport"] = _text(person, "passport_number")
    out[f"{prefix}_nationality"] = _text(person, "nationality1")
    number = _text(person, "phones/phone/tph_number")
    cc = _text(person, "phones/phone/tph_country_prefix")
    out[f"{prefix}_phone"] = f"+{cc.lstrip('+')} {number}" if cc and number else number
    out[f"{prefix}_email"] = _text(person, "email")
    out[f"{prefix}_address"] = _text(person, "addresses/address/address")
    out[f"{prefix}_city"] = _text(person, "addresses/address/city")
    out[f"{prefix}_address_country"] = _text(person, "addresses/address/country_code")


def _entity(prefix: str, entity: Any, out: dict[str, str | None]) -> None:
    out[f"{prefix}_entity_name"] = _text(entity, "name")
    out[f"{prefix}_registration_number"] = _text(entity, "incorporation_number")
    out[f"{prefix}_entity_country"] = _text(entity, "incorporation_country_code")
    out[f"{prefix}_business"] = _text(entity, "business")


GOAML_SIDE_FIELDS = (
    "funds_code", "country", "party_kind", "account", "bank", "swift", "account_name",
    "first_name", "last_name", "birth_date", "gender", "id_number", "passport", "nationality",
    "phone", "email", "address", "city", "address_country",
    "entity_name", "registration_number", "entity_country", "business", "name",
)  # fmt: skip
GOAML_COLUMNS = [
    "report_code", "report_id", "rentity_id", "transaction_id", "internal_ref", "timestamp",
    "value_date", "description", "location", "transmode_code", "amount", "currency",
] + [f"{side}_{f}" for side in ("from", "to") for f in GOAML_SIDE_FIELDS]  # fmt: skip


def _side(tx: Any, side: str, out: dict[str, str | None]) -> None:
    node = tx.find(f"t_{side}_my_client")
    if node is None:
        node = tx.find(f"t_{side}")
    for f in GOAML_SIDE_FIELDS:
        out.setdefault(f"{side}_{f}", None)
    if node is None:
        return
    out[f"{side}_funds_code"] = _text(node, f"{side}_funds_code")
    out[f"{side}_country"] = _text(node, f"{side}_country")
    account = node.find(f"{side}_account")
    person = node.find(f"{side}_person")
    entity = node.find(f"{side}_entity")
    if account is not None:
        out[f"{side}_party_kind"] = "account"
        out[f"{side}_account"] = _text(account, "iban") or _text(account, "account")
        out[f"{side}_bank"] = _text(account, "institution_name")
        out[f"{side}_swift"] = _text(account, "swift")
        out[f"{side}_account_name"] = _text(account, "account_name")
        signatory = account.find("signatory/t_person")
        if signatory is not None:
            _person(side, signatory, out)
        owner = account.find("t_entity")
        if owner is not None:
            _entity(side, owner, out)
    if person is not None:
        out[f"{side}_party_kind"] = "person"
        _person(side, person, out)
    if entity is not None:
        out[f"{side}_party_kind"] = "entity"
        _entity(side, entity, out)
    full = " ".join(p for p in (out.get(f"{side}_first_name"), out.get(f"{side}_last_name")) if p)
    out[f"{side}_name"] = out.get(f"{side}_entity_name") or full or out.get(f"{side}_account_name")


def stage_goaml(engine: Engine, path: Path, name: str) -> Staged:
    """Stream ``<transaction>`` elements of a goAML report (bi-party transactions) into rows.
    The parser resolves no entities and fetches nothing (XXE-safe); a truncated or malformed
    document raises SourceError and nothing is stored."""
    report: dict[str, str | None] = {}
    rejects: list[dict[str, Any]] = []

    def records() -> Iterator[tuple[int, dict[str, str | None]]]:
        context = etree.iterparse(
            str(path),
            events=("end",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
        )
        seen_report = False
        for _, el in context:
            tag = etree.QName(el).localname if isinstance(el.tag, str) else ""
            if tag in (
                "rentity_id",
                "report_code",
                "entity_reference",
                "fiu_ref_number",
                "currency_code_local",
            ):
                parent = el.getparent()
                if parent is not None and etree.QName(parent).localname == "report":
                    report[tag] = (el.text or "").strip() or None
            if tag == "report":
                seen_report = True
            if tag != "transaction":
                continue
            out: dict[str, str | None] = {
                "report_code": report.get("report_code"),
                "report_id": report.get("entity_reference") or report.get("fiu_ref_number"),
                "rentity_id": report.get("rentity_id"),
                "transaction_id": _text(el, "transactionnumber"),
                "internal_ref": _text(el, "internal_ref_number"),
                "timestamp": _text(el, "date_transaction"),
                "value_date": _text(el, "value_date"),
                "description": _text(el, "transaction_description"),
                "location": _text(el, "transaction_location"),
                "transmode_code": _text(el, "transmode_code"),
                "amount": _text(el, "amount_local"),
                "currency": report.get("currency_code_local"),
            }
            if el.find("involved_parties") is not None:
                rejects.append(
                    {
                        "row": el.sourceline,
                        "field": "involved_parties",
                        "reason": "multi-party goAML transactions are not mapped yet",
                        "raw": etree.tostring(el, encoding="unicode")[:RAW_LIMIT],
                    }
                )
                el.clear()
                continue
            _side(el, "from", out)
            _side(el, "to", out)
            yield int(el.sourceline or 0), out
            el.clear()
        if not seen_report:
            raise SourceError(f"{name}: no <report> element: not a goAML report")

    try:
        _stage_batches(engine, GOAML_COLUMNS, records())
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{name}: malformed XML at line {exc.lineno}: {exc.msg}") from None
    if not report.get("currency_code_local"):
        raise SourceError(f"{name}: the report has no <currency_code_local>")
    return Staged(list(GOAML_COLUMNS), rejects, {"report": report})


# -- FollowTheMoney JSON lines ----------------------------------------------------------------------
def iter_json_lines(path: Path, name: str) -> Iterator[tuple[int, str, Any]]:
    """Yield (line number, raw text, parsed object or an exception) per non-empty line."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        raise SourceError(f"{name}: looks binary (NUL byte), not JSON lines")
    with open(path, encoding="utf-8", errors="strict") as fh:
        number = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:
                raise SourceError(f"{name}: not UTF-8 after line {number} ({exc.reason})") from None
            if not line:
                break
            number += 1
            if not line.strip():
                continue
            try:
                yield number, line, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, line, exc
