"""``palermo ingest``: receive a file as evidence, stage it with its reader, load it through its
mapping, all in one transaction. Re-ingesting the same file with the same mapping into the same
compartment is a no-op that says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from palermo import __version__
from palermo.errors import MappingError, SourceError
from palermo.ingest import readers
from palermo.ingest.mapping import Mapping, load_mapping
from palermo.ingest.normalise import normalise_one, normalise_values
from palermo.model import ValueType
from palermo.store import audit
from palermo.store.access import check_compartment_name
from palermo.store.loader import (
    LoadContext,
    LoadResult,
    insert_statement_rows,
    key_sql,
    load_tabular,
    register_entity_keys,
)
from palermo.store.workspace import Store, StoredFile

#: progress(message, fraction): a new phase when fraction is None, else how far it has got (0..1)
Progress = Callable[[str, float | None], None]


def _silent(_message: str, _fraction: float | None = None) -> None:
    return None


@dataclass
class IngestReport:
    file: str
    sha256: str
    mapping: str
    compartment: str
    run_id: int | None
    already_ingested: bool = False
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    statements: int = 0
    events: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.already_ingested:
            return (
                f"{self.file}: already ingested (run {self.run_id}, same content, mapping and"
                f" compartment); nothing to do"
            )
        parts = [
            f"{self.file}: {self.rows_read} rows read, {self.rows_stored} stored",
            f"{self.rows_quarantined} quarantined",
        ]
        if self.rows_duplicate:
            parts.append(f"{self.rows_duplicate} already in the workspace")
        parts.append(f"{self.statements} statements")
        for kind, n in self.events.items():
            parts.append(f"{n} {kind}")
        return ", ".join(parts) + f" (run {self.run_id}, sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class IngestOptions:
    compartment: str = "default"
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None


def format_for(mapping: Mapping, name: str) -> str:
    if mapping.format == "csv" and Path(name).suffix.lower() in (".xlsx", ".xlsm"):
        return "xlsx"
    return mapping.format


def _next_run_id(store: Store) -> int:
    return int(store.engine.rows("SELECT coalesce(max(run_id), 0) + 1 FROM ingest_runs")[0][0])


def check_columns(mapping: Mapping, columns: list[str], name: str) -> None:
    """A file missing a required column, or every alternative of ``require_any``, is refused."""
    present = set(columns)
    missing = [
        s.column
        for s in mapping.fields.values()
        if s.required and s.column not in present and s.default is None
    ]
    if mapping.require_any and not any(
        all(mapping.fields[f].column in present for f in group) for group in mapping.require_any
    ):
        missing.append(
            " or ".join("+".join(mapping.fields[f].column for f in g) for g in mapping.require_any)
        )
    if missing:
        shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
        hint = ""
        if len(columns) == 1 and any(d in columns[0] for d in ";,\t|"):
            hint = " (one column only: is the delimiter right? try --delimiter)"
        raise SourceError(
            f"{name}: missing column(s) {', '.join(missing)} for mapping {mapping.name};"
            f" found: {shown}{hint}. Map other names with --columns field=COLUMN"
        )


def stage(
    store: Store, mapping: Mapping, path: Path, name: str, opts: IngestOptions
) -> readers.Staged:
    fmt = format_for(mapping, name)
    if fmt == "csv":
        return readers.stage_csv(
            store.engine,
            path,
            name,
            store.tmp_dir,
            delimiter=opts.delimiter,
            encoding=opts.encoding,
            trim={spec.column for spec in mapping.fields.values()},
        )
    if fmt == "xlsx":
        return readers.stage_xlsx(store.engine, path, name, sheet=opts.sheet)
    if fmt == "goaml":
        return readers.stage_goaml(store.engine, path, name)
    raise MappingError(f"mapping {mapping.name}: format {fmt} is not tabular")


def ingest_file(
    store: Store,
    path: Path,
    mapping: Mapping,
    opts: IngestOptions,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    path = Path(path)
    name = path.name
    check_compartment_name(opts.compartment)
    store.scope.require(opts.compartment)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    say = progress or _silent
    say(f"receiving {name}", None)
    received = store.receive_file(path)
    previous = store.engine.rows(
        "SELECT run_id FROM ingest_runs WHERE evidence_sha256 = ? AND mapping_sha256 = ?"
        " AND compartment = ? ORDER BY run_id LIMIT 1",
        [received.sha256, mapping.fingerprint, opts.compartment],
    )
    if previous:
        store.discard_file(received)
        return IngestReport(
            name, received.sha256, mapping.name, opts.compartment, int(previous[0][0]), True
        )
    try:
        with store.engine.transaction():
            report = _ingest_in_transaction(store, path, received, mapping, opts, say)
            received.durable()  # the evidence copy is on disk before its record commits
    except BaseException:
        store.discard_file(received)
        raise
    store.settle_file(received)
    return report


def _record_evidence(store: Store, path: Path, received: StoredFile) -> None:
    exists = store.engine.rows("SELECT 1 FROM evidence WHERE sha256 = ?", [received.sha256])
    if not exists:
        store.engine.execute(
            "INSERT INTO evidence VALUES (?, ?, ?, ?, ?, now(), ?)",
            [
                received.sha256,
                path.name,
                str(path.resolve()),
                received.size,
                str(store.evidence_path(received.sha256).relative_to(store.root)),
                store.scope.actor,
            ],
        )


def _ingest_in_transaction(
    store: Store,
    path: Path,
    received: StoredFile,
    mapping: Mapping,
    opts: IngestOptions,
    say: Progress,
    *,
    kind: str = "ingest",
    only_rows: list[int] | None = None,
) -> IngestReport:
    started = datetime.now(UTC)
    run_id = _next_run_id(store)
    _record_evidence(store, path, received)
    ctx = LoadContext(run_id, opts.compartment, received.sha256, path.name)
    say(f"reading {path.name}", None)
    if mapping.format == "ftm":
        result, details = _load_ftm(store, received.incoming, path.name, ctx, only_rows)
    else:
        staged = stage(store, mapping, received.incoming, path.name, opts)
        check_columns(mapping, staged.columns, path.name)
        rejects = staged.rejects
        stage_name = readers.STAGE
        if only_rows is not None:
            keep = pa.table({"_row": pa.array(sorted(set(only_rows)), pa.int64())})
            store.engine.register("_only_rows", keep)
            try:
                store.engine.execute(
                    f"CREATE OR REPLACE TEMP TABLE _stage_only AS SELECT * FROM {readers.STAGE}"
                    " WHERE _row IN (SELECT _row FROM _only_rows)"
                )
            finally:
                store.engine.unregister("_only_rows")
            stage_name = "_stage_only"
            wanted = set(only_rows)
            rejects = [r for r in rejects if r["row"] in wanted]
        say(f"checking and storing {path.name}", None)
        result = load_tabular(
            store.engine,
            stage_name,
            mapping,
            ctx,
            normalise_values,
            rejects=rejects,
            on_chunk=lambda done, total: say(f"checking and storing {path.name}", done / total),
        )
        details = staged.details
        readers.drop_stage(store.engine)
    store.engine.execute(
        "INSERT INTO ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            kind,
            received.sha256,
            mapping.name,
            mapping.origin,
            mapping.fingerprint,
            opts.compartment,
            store.scope.actor,
            started,
            result.rows_read,
            result.rows_stored,
            result.rows_duplicate,
            result.rows_quarantined,
            result.statements,
            json.dumps({"file": str(path), **details}, default=str),
            __version__,
        ],
    )
    report = IngestReport(
        path.name,
        received.sha256,
        mapping.name,
        opts.compartment,
        run_id,
        rows_read=result.rows_read,
        rows_stored=result.rows_stored,
        rows_duplicate=result.rows_duplicate,
        rows_quarantined=result.rows_quarantined,
        statements=result.statements,
        events=dict(result.events or {}),
        details=details,
    )
    audit.append(
        store.engine,
        store.scope.actor,
        f"{kind}.file",
        received.sha256,
        {k: v for k, v in report.to_dict().items() if k != "details"},
    )
    return report


# -- FollowTheMoney -------------------------------------------------------------------------------
_NAME_TYPES = {"name"}


def _load_ftm(
    store: Store, path: Path, name: str, ctx: LoadContext, only_rows: list[int] | None
) -> tuple[LoadResult, dict[str, Any]]:
    """Read FtM entities line by line with ``followthemoney``; a line with invalid JSON, an unknown
    schema or a value its property type rejects is quarantined with the property named."""
    from followthemoney import model
    from followthemoney.exc import InvalidData

    from palermo.model.entities import ENTITY_KINDS, LINK_KINDS
    from palermo.store.loader import quarantine_records

    wanted = set(only_rows) if only_rows is not None else None
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "entity_id",
            "schema",
            "prop",
            "value",
            "original",
            "normalised",
            "translit",
            "source_row",
        )
    }
    payments: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    read = stored = 0
    kinds = set(ENTITY_KINDS) | set(LINK_KINDS)
    for number, raw, data in readers.iter_json_lines(path, name):
        if wanted is not None and number not in wanted:
            continue
        read += 1

        def reject(field: str | None, reason: str, number: int = number, raw: str = raw) -> None:
            rejects.append({"row": number, "field": field, "reason": reason, "raw": raw})

        if isinstance(data, Exception):
            reject(None, f"invalid JSON: {data}")
            continue
        if not isinstance(data, dict) or not data.get("id") or not data.get("schema"):
            reject(None, "not an FtM entity (needs id, schema, properties)")
            continue
        schema = model.get(str(data["schema"]))
        if schema is None:
            reject("schema", f"unknown FtM schema {data['schema']!r}")
            continue
        if schema.name not in kinds:
            reject("schema", f"schema {schema.name} is not one Palermo stores")
            continue
        props = data.get("properties") or {}
        rows: list[tuple[str, str, str | None, str | None, str | None]] = []
        problem = None
        for prop_name, values in props.items():
            prop = schema.properties.get(prop_name)
            if prop is None:
                problem = (prop_name, f"{schema.name} has no property {prop_name!r}")
                break
            for value in values if isinstance(values, list) else [values]:
                cleaned = prop.type.clean(str(value), proxy=None)
                if cleaned is None:
                    problem = (prop_name, f"invalid {prop.type.name}: {str(value)[:80]!r}")
                    break
                normalised = translit = None
                if prop.type.name in _NAME_TYPES:
                    n = normalise_one(ValueType.NAME, str(value))
                    normalised, translit = n.facets.get("normalised"), n.facets.get("translit")
                rows.append((prop_name, str(cleaned), str(value), normalised, translit))
            if problem:
                break
        if problem is None:
            try:
                model.get_proxy({"id": data["id"], "schema": schema.name, "properties": props})
            except InvalidData as exc:
                problem = (None, f"invalid entity: {exc}")
        if problem is not None:
            reject(problem[0], problem[1])
            continue
        stored += 1
        eid = str(data["id"])
        for prop_name, value, original, normalised, translit in [
            ("id", eid, None, None, None),
            *rows,
        ]:
            for key, val in zip(
                cols,
                (eid, schema.name, prop_name, value, original, normalised, translit, number),
                strict=True,
            ):
                cols[key].append(val)
        if schema.name == "Payment":
            payments.append({"row": number, "id": eid, "props": props})
    table = pa.table(
        {k: pa.array(v, pa.int64() if k == "source_row" else pa.string()) for k, v in cols.items()}
    )
    result = LoadResult(
        rows_read=read, rows_stored=stored, rows_quarantined=len(rejects), events={}
    )
    result.statements = insert_statement_rows(store.engine, table, ctx)
    quarantine_records(store.engine, ctx, rejects)
    result.events = {"payments": _store_ftm_payments(store, payments, ctx)}
    return result, {}


def _store_ftm_payments(store: Store, payments: list[dict[str, Any]], ctx: LoadContext) -> int:
    """FtM Payment entities with a date, an amount and a currency also become payment events."""

    def first(props: dict[str, Any], key: str) -> str | None:
        values = props.get(key) or []
        return str(values[0]) if values else None

    rows = []
    for p in payments:
        props = p["props"]
        if not (first(props, "date") and first(props, "amount") and first(props, "currency")):
            continue
        rows.append(
            {
                "id": p["id"],
                "occurred_at": first(props, "date"),
                "payer": first(props, "payer"),
                "payer_account": first(props, "payerAccount"),
                "payee": first(props, "beneficiary"),
                "payee_account": first(props, "beneficiaryAccount"),
                "amount": first(props, "amount"),
                "currency": (first(props, "currency") or "").upper(),
                "reference": first(props, "purpose") or first(props, "description"),
                "source_row": p["row"],
            }
        )
    if not rows:
        return 0
    table = pa.Table.from_pylist(rows)
    parties = ("payer", "payer_account", "payee", "payee_account")
    store.engine.register("_ftm_payments", table)
    try:
        register_entity_keys(
            store.engine, " UNION ALL ".join(f"SELECT {c} FROM _ftm_payments" for c in parties)
        )
        store.engine.execute(
            "INSERT INTO payments (id, source_id, occurred_at, payer_key, payer_account_key,"
            " payee_key, payee_account_key, amount, currency, amount_eur, reference, compartment,"
            " evidence_sha256, source_row, run_id)"
            " SELECT p.id, p.id, CAST(p.occurred_at AS TIMESTAMPTZ), "
            + ", ".join(key_sql(f"p.{c}") for c in parties)
            + ", CAST(p.amount AS DECIMAL(20,4)), p.currency,"
            " CASE WHEN p.currency = 'EUR' THEN CAST(p.amount AS DECIMAL(20,4)) END, p.reference,"
            " ?, ?, p.source_row, ? FROM _ftm_payments p ANTI JOIN payments x ON x.id = p.id",
            [ctx.compartment, ctx.evidence_sha256, ctx.run_id],
        )
    finally:
        store.engine.unregister("_ftm_payments")
    return len(rows)


# -- quarantine retry -----------------------------------------------------------------------------
def retry_quarantine(
    store: Store,
    *,
    run_id: int | None = None,
    mapping_override: Mapping | None = None,
    opts_override: IngestOptions | None = None,
    progress: Progress | None = None,
) -> list[IngestReport]:
    """Re-read the open quarantined rows from their evidence copy, through the mapping they were
    ingested with (re-read from its file, so a fixed YAML applies) or ``mapping_override``. Rows
    that now pass land with their original file and row; the rest are quarantined again."""
    say = progress or _silent
    cond, params = store.scope.sql_filter("q.compartment")
    sql = (
        "SELECT q.run_id, r.evidence_sha256, r.mapping_origin, r.compartment, e.original_name,"
        " list(q.source_row ORDER BY q.source_row), r.params"
        " FROM quarantine q JOIN ingest_runs r USING (run_id) JOIN evidence e ON e.sha256 = r.evidence_sha256"
        f" WHERE q.status = 'open' AND {cond}"
    )
    if run_id is not None:
        sql += " AND q.run_id = ?"
        params = [*params, run_id]
    groups = store.engine.rows(sql + " GROUP BY ALL ORDER BY q.run_id", params)
    reports = []
    for old_run, sha, origin, compartment, original_name, rows, params_json in groups:
        mapping = mapping_override or load_mapping(origin.removeprefix("builtin:"))
        recorded = json.loads(params_json or "{}")
        opts = opts_override or IngestOptions(
            compartment=compartment,
            delimiter=recorded.get("delimiter"),
            encoding=recorded.get("encoding"),
            sheet=recorded.get("sheet"),
        )
        opts = IngestOptions(compartment, opts.delimiter, opts.encoding, opts.sheet)
        say(f"retrying {len(rows)} rows of {original_name} (run {old_run})", None)
        copy = store.tmp_dir / f"retry-{sha}{Path(original_name).suffix}"
        store.copy_evidence(sha, copy)
        received = StoredFile(sha, copy.stat().st_size, copy)
        try:
            with store.engine.transaction():
                report = _ingest_in_transaction(
                    store,
                    Path(original_name),
                    received,
                    mapping,
                    opts,
                    say,
                    kind="retry",
                    only_rows=rows,
                )
                store.engine.execute(
                    "UPDATE quarantine SET status = CASE WHEN source_row IN (SELECT source_row FROM"
                    " quarantine WHERE run_id = ?) THEN 'superseded' ELSE 'resolved' END,"
                    " closed_by_run = ? WHERE run_id = ? AND status = 'open'",
                    [report.run_id, report.run_id, old_run],
                )
        finally:
            copy.unlink(missing_ok=True)
        reports.append(report)
    return reports
