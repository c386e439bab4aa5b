"""Compile a mapping into SQL and load a staged source through it, in one transaction.

The staged source is a table of VARCHAR columns named as in the file plus ``_row`` (the record's row
in the file). Every check and every cast runs in the engine, vectorised; only the value types with
rich rules (names, phones, accounts, ...) go through Python, once per *distinct* value, and come back
as a small table joined in SQL. A row either lands whole (its statements and events) or goes to the
quarantine with every reason it failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from palermo.errors import MappingError
from palermo.model import ValueType, event_kind
from palermo.model.mapping import FACETS, EntitySpec, EventSpec, FieldSpec, Mapping, ValueRef
from palermo.store.engine import Engine

#: Normaliser callback: (type, distinct raw values, mapping options) -> table raw, value, error, facets
Normaliser = Callable[[ValueType, list[str], dict[str, Any]], pa.Table]

RAW_LIMIT = 65_536  # characters of a quarantined record kept inline (the evidence file keeps all)
TEXT_LIMIT_DEFAULT = 1_000_000
CHUNK_ROWS = 1_000_000  # rows checked and stored per step (mapping option chunk_rows)
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%Y%m%d%H%M%S",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y",
    "%d/%m/%Y",
)
DATE_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d")


def q(name: str) -> str:
    """Quote an identifier for SQL."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal for SQL (used only for values the mapping or Palermo chose)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class LoadContext:
    run_id: int
    compartment: str
    evidence_sha256: str
    file_name: str


@dataclass
class LoadResult:
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    statements: int = 0
    events: dict[str, int] | None = None


class _Compiler:
    """Builds the SQL expressions for one mapping over one staged table."""

    def __init__(self, mapping: Mapping, stage_columns: Sequence[str], ctx: LoadContext) -> None:
        self.m = mapping
        self.ctx = ctx
        self.columns = set(stage_columns)
        self.text_limit = int(mapping.options.get("max_text_length", TEXT_LIMIT_DEFAULT))
        # one hash column per distinct (namespace, keys): an account, its holder and the holding
        # share it
        self.hash_columns: dict[str, str] = {}
        for entity in mapping.entities:
            self.hash_columns.setdefault(self.key_hash(entity), f"_h{len(self.hash_columns)}")

    def raw(self, spec: FieldSpec) -> str:
        """The field's source text, trimmed, NULL when empty (see ``trimmed_source``), or the
        field's default where there is none."""
        default = "CAST(NULL AS VARCHAR)" if spec.default is None else lit(spec.default)
        if spec.column not in self.columns:
            return default
        if spec.default is not None:
            return f"coalesce(s.{q(spec.column)}, {default})"
        return f"s.{q(spec.column)}"

    def present(self, spec: FieldSpec) -> bool:
        """Whether the field has values: a column in the file, or a default."""
        return spec.column in self.columns or spec.default is not None

    def trimmed_source(self, source: str) -> str:
        """A subquery over ``source`` with every mapped column trimmed once, not once per use."""
        used = sorted({f.column for f in self.m.fields.values() if f.column in self.columns})
        cols = "".join(f", NULLIF(trim({q(c)}), '') AS {q(c)}" for c in used)
        return f"(SELECT _row{cols} FROM {source})"

    def norm_source(self, spec: FieldSpec) -> str:
        """The registered normaliser table of the field's type (shared by fields of that type)."""
        return f"_norm_{spec.type.value}"

    def norm_table(self, spec: FieldSpec) -> str:
        """The field's alias of its type's normaliser table in the check query."""
        return q(f"_norm_{spec.name}")

    def text_error(self, raw: str) -> str:
        """Size and spreadsheet-formula checks for any free text (names included): a cell such as
        ``=cmd|' /C calc'!A0`` is evidence, but must never reach a spreadsheet as a formula."""
        return (
            f"CASE WHEN length({raw}) > {self.text_limit} THEN "
            f"'value is ' || length({raw}) || ' characters, over the limit of {self.text_limit}'"
            f" WHEN left({raw}, 1) IN ('=', '@') OR (left({raw}, 1) IN ('+', '-', chr(9), chr(13))"
            f" AND regexp_matches({raw}, '[(|!=]'))"
            f" THEN 'starts like a spreadsheet formula (CSV injection): ' || left({raw}, 80) END"
        )

    def value_and_error(self, spec: FieldSpec) -> tuple[str, str]:
        """SQL for the typed value of a field and for its error (NULL when fine)."""
        raw = self.raw(spec)
        shown = f"left({raw}, 80)"
        t = spec.type
        if not self.present(spec):
            value, error = "NULL", "CAST(NULL AS VARCHAR)"
        elif t.is_distinct_normalised:
            n = self.norm_table(spec)
            value, error = f"{n}.value", f"{n}.error"
            if t == ValueType.NAME:
                error = f"coalesce({self.text_error(raw)}, {error})"
        elif t in (ValueType.TEXT, ValueType.IDENTIFIER):
            value = raw
            error = self.text_error(raw)
        elif t == ValueType.DATETIME:
            fmts = ", ".join(
                lit(f) for f in self.m.options.get("datetime_formats", DATETIME_FORMATS)
            )
            zone = self.m.options.get("timezone")
            if zone and zone != "UTC":
                # times that carry an offset keep it; the others are local times in `zone`
                local_fmts = ", ".join(
                    lit(f)
                    for f in self.m.options.get("datetime_formats", DATETIME_FORMATS)
                    if "%z" not in f.lower()
                )
                naive = (
                    f"COALESCE(TRY_CAST({raw} AS TIMESTAMP), try_strptime({raw}, [{local_fmts}]))"
                )
                value = (
                    f"(CASE WHEN regexp_matches({raw}, '([Zz]|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
                    f" THEN TRY_CAST({raw} AS TIMESTAMPTZ) ELSE timezone({lit(zone)}, {naive}) END)"
                )
            else:
                value = (
                    f"COALESCE(TRY_CAST({raw} AS TIMESTAMPTZ),"
                    f" TRY_CAST(try_strptime({raw}, [{fmts}]) AS TIMESTAMPTZ))"
                )
            value = f"(CASE WHEN year({value}) BETWEEN 1900 AND 2100 THEN {value} END)"
            error = f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a valid date and time: ' || {shown} END"
        elif t == ValueType.DATE:
            fmts = ", ".join(lit(f) for f in self.m.options.get("date_formats", DATE_FORMATS))
            value = f"COALESCE(TRY_CAST({raw} AS DATE), TRY_CAST(try_strptime({raw}, [{fmts}]) AS DATE))"
            value = f"(CASE WHEN year({value}) BETWEEN 1800 AND 2100 THEN {value} END)"
            error = f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a valid date: ' || {shown} END"
        elif t == ValueType.AMOUNT:
            # Only unambiguous layouts: 1234.56 / 1,234.56 (or with options.decimal_comma:
            # 1234,56 / 1.234,56). Anything else is quarantined, never guessed.
            cleaned = f"replace({raw}, ' ', '')"
            if self.m.options.get("decimal_comma"):
                layout, thousands, decimal = r"^-?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?$", ".", ","
            else:
                layout, thousands, decimal = r"^-?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?$", ",", "."
            number = f"replace(replace({cleaned}, {lit(thousands)}, ''), {lit(decimal)}, '.')"
            value = (
                f"(CASE WHEN regexp_matches({cleaned}, {lit(layout)})"
                f" THEN TRY_CAST({number} AS DECIMAL(20,4)) END)"
            )
            hint = "1.234,56 needs options.decimal_comma" if thousands == "," else "decimal comma"
            error = (
                f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not an amount: ' || {shown}"
                f" || {lit(f' (expected 1234{decimal}56 or 1{thousands}234{decimal}56; {hint})')}"
                f" WHEN {value} < 0 THEN 'negative amount ' || {shown} ||"
                " ' (the direction is given by the from/to columns)' END"
            )
        elif t == ValueType.INTEGER:
            value = f"TRY_CAST({raw} AS BIGINT)"
            error = (
                f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a whole number: ' || {shown}"
                f" WHEN {value} < 0 THEN 'negative number: ' || {shown} END"
            )
        elif t == ValueType.NUMBER:
            value = f"(CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END)"
            error = f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a number: ' || {shown} END"
        else:  # pragma: no cover - every ValueType is handled above
            raise AssertionError(t)
        if spec.required:
            error = f"CASE WHEN {raw} IS NULL THEN 'required value is missing' ELSE {error} END"
        return value, error

    # -- entity ids --------------------------------------------------------------------------
    def namespace(self, entity: EntitySpec) -> str:
        if entity.scope == "global":
            return "global"
        return f"{self.ctx.compartment}:{self.m.namespace}"

    def when_fields(self, entity: EntitySpec) -> list[str]:
        by_name = {e.name: e for e in self.m.entities}
        out: list[str] = []
        for w in entity.when:
            out.extend(self.when_fields(by_name[w]) if w in by_name else [w])
        return out

    def key_hash(self, entity: EntitySpec) -> str:
        """SQL for the hash of an entity's namespace and keys (see ``model.entity_id``)."""
        parts = " || '|' || ".join(
            f"coalesce(CAST(c.{q('f_' + k)} AS VARCHAR), '')" for k in entity.key
        )
        return f"md5({lit(self.namespace(entity) + '|')} || {parts})"

    def entity_ref(self, name: str) -> str:
        """SQL for an entity's id over the checked table: computed where used, not stored, so the
        checked table carries one 32-character hash per key instead of one id per entity."""
        entity = next(e for e in self.m.entities if e.name == name)
        return self.entity_id(entity, self.hash_columns[self.key_hash(entity)])

    def entity_id(self, entity: EntitySpec, hash_column: str) -> str:
        cond = " AND ".join(f"c.{q('f_' + w)} IS NOT NULL" for w in self.when_fields(entity))
        return f"CASE WHEN {cond} THEN {lit(entity.kind.lower() + '-')} || c.{q(hash_column)} END"

    def ref(self, ref: ValueRef) -> str:
        """SQL for a value reference over the checked table ``c``."""
        if ref.entity is not None:
            return self.entity_ref(ref.entity)
        if ref.entities:
            return "coalesce(" + ", ".join(self.entity_ref(e) for e in ref.entities) + ")"
        if ref.const is not None:
            return lit(ref.const)
        if ref.join:
            parts = ", ".join(f"CAST(c.{q('f_' + f)} AS VARCHAR)" for f in ref.join)
            return f"NULLIF(concat_ws(' ', {parts}), '')"
        assert ref.field is not None
        if ref.facet is not None:
            return f"c.{q('x_' + ref.field + '_' + ref.facet)}"
        return f"c.{q('f_' + ref.field)}"


def stage_columns(engine: Engine, stage: str) -> list[str]:
    return [row[0] for row in engine.rows(f"SELECT column_name FROM (DESCRIBE {q(stage)})")]


def load_tabular(
    engine: Engine,
    stage: str,
    mapping: Mapping,
    ctx: LoadContext,
    normalise: Normaliser,
    *,
    rejects: list[dict[str, Any]] | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> LoadResult:
    """Check, normalise and store every row of ``stage`` through ``mapping``.

    ``rejects`` are records the reader could not even split into fields (wrong column count, bad
    encoding); they go to the quarantine as they are. ``on_chunk(done, total)`` reports progress in
    rows. Call inside the ingest transaction.
    """
    cols = stage_columns(engine, stage)
    comp = _Compiler(mapping, [c for c in cols if c != "_row"], ctx)
    zone = mapping.options.get("timezone")
    if zone and not engine.rows("SELECT 1 FROM pg_timezone_names() WHERE name = ?", [zone]):
        raise MappingError(
            f"mapping {mapping.name}: unknown time zone {zone!r} (e.g. Europe/London)"
        )
    result = LoadResult(events={})
    registered: list[str] = []
    joins: list[str] = []
    join_of: dict[str, str] = {}
    try:
        # 1. rich normalisers over the distinct values of each such type (a payer's and a
        #    payee's accounts are one set: each value is normalised once), in one scan
        by_type: dict[ValueType, list[FieldSpec]] = {}
        for spec in mapping.fields.values():
            if spec.type.is_distinct_normalised and comp.present(spec):
                by_type.setdefault(spec.type, []).append(spec)
        if by_type:
            aggregates = ", ".join(
                f"list(DISTINCT {comp.raw(spec)}) AS {q(spec.name)}"
                for specs in by_type.values()
                for spec in specs
            )
            found = engine.arrow(
                f"SELECT {aggregates} FROM {comp.trimmed_source(q(stage))} s"
            ).to_pylist()[0]
        for vtype, specs in by_type.items():
            values = sorted(
                {v for spec in specs for v in (found[spec.name] or []) if v is not None}
            )
            table = normalise(vtype, values, mapping.options)
            name = comp.norm_source(specs[0])
            engine.register(name, table)
            registered.append(name)
            for spec in specs:
                alias = comp.norm_table(spec)
                join_of[spec.name] = (
                    f"LEFT JOIN {q(name)} AS {alias} ON {alias}.raw = {comp.raw(spec)}"
                )
                joins.append(join_of[spec.name])

        # 2. the check query (typed values, errors, key hashes, event ids) for one chunk
        checked_sql, ids = _check_query(comp, mapping, ctx, joins)
        # Event ids of the whole file, once: duplicates inside the file and events stored before
        # are found here with one aggregate and one join, not per chunk against a growing table.
        _prepare_event_checks(engine, comp, mapping, stage, join_of, ids)
        raw_record = (
            "to_json({" + ", ".join(f"{lit(c)}: s.{q(c)}" for c in cols if c != "_row") + "})"
        )
        # The rows are checked and stored in chunks, so that the checked table of a chunk stays in
        # memory: a whole-file table of 1e8 rows would spill to disk and be read back many times.
        bounds = engine.rows(f"SELECT min(_row), max(_row), count(*) FROM {q(stage)}")
        first, last, total = bounds[0]
        chunk = int(mapping.options.get("chunk_rows", CHUNK_ROWS))
        entity_tables: list[str] = []
        # From here on no step relies on the order rows are written in (rows carry _row), and
        # order-preserving sinks cost time.
        engine.execute("SET preserve_insertion_order = false")
        for lo in range(int(first or 0), int(last or -1) + 1, chunk):
            engine.execute(
                f"CREATE OR REPLACE TEMP VIEW _chunk AS SELECT * FROM {q(stage)}"
                f" WHERE _row >= {lo} AND _row < {lo + chunk}"
            )
            engine.execute(checked_sql)
            # 3. events: duplicates inside the file and events already stored (same id)
            for ev in mapping.events:
                _mark_event_issues(engine, comp, ev.kind, dict(ev.columns))
            # 4. quarantine the rows with any error; they store nothing
            _quarantine_insert(
                engine,
                ctx,
                f"SELECT c._row, c._errors, left(CAST({raw_record} AS VARCHAR), {RAW_LIMIT})"
                " FROM _checked c JOIN _chunk s ON s._row = c._row WHERE c._errors IS NOT NULL",
            )
            n, bad, already = engine.rows(
                "SELECT count(*), count(*) FILTER (_errors IS NOT NULL),"
                " count(*) FILTER (_errors IS NULL AND _already) FROM _checked"
            )[0]
            result.rows_read += int(n)
            result.rows_quarantined += int(bad)
            result.rows_duplicate += int(already)
            result.rows_stored += int(n) - int(bad) - int(already)
            # 5. entities: this chunk's distinct property values, collected for step 7
            entity_tables = _collect_entities(engine, comp, mapping, append=lo != first)
            # 6. events (no ORDER BY: readers order by what they need; sorting is not free)
            for ev in mapping.events:
                _insert_events(engine, comp, ev, ctx)
            if on_chunk is not None:
                on_chunk(result.rows_read, int(total))
        if rejects:
            _quarantine_rejects(engine, ctx, rejects)
            result.rows_read += len(rejects)
            result.rows_quarantined += len(rejects)
        # 7. statements: one per entity, property, value and source, with the first row
        result.statements = _store_entities(engine, comp, mapping, ctx, entity_tables)
        for ev in mapping.events:
            assert result.events is not None
            result.events[ev.kind] = result.rows_stored
        return result
    finally:
        with contextlib.suppress(Exception):
            engine.execute("SET preserve_insertion_order = true")
        for name in registered:
            engine.unregister(name)
        _drop_quietly(engine, "_checked", "_event_issues", "_file_ids")
        for ev in mapping.events:
            _drop_quietly(engine, q("_dups_" + ev.kind), q("_known_" + ev.kind))
        with contextlib.suppress(Exception):
            engine.execute("DROP VIEW IF EXISTS _chunk")
        _drop_quietly(engine, *(q(f"_ent{h}") for h in comp.hash_columns.values()))


def _insert_events(engine: Engine, comp: _Compiler, ev: EventSpec, ctx: LoadContext) -> None:
    kind = event_kind(ev.kind)
    target_cols = ["id"] + [c for c, _ in ev.columns]
    exprs = [f"c.{q('v_' + ev.kind)}"] + [_cast_for(kind, c, comp.ref(r)) for c, r in ev.columns]
    if "amount_eur" not in target_cols and "currency" in target_cols:
        target_cols.append("amount_eur")
        cur = comp.ref(dict(ev.columns)["currency"])
        amt = comp.ref(dict(ev.columns)["amount"])
        exprs.append(f"CASE WHEN {cur} = 'EUR' THEN {amt} END")
    target_cols += ["compartment", "evidence_sha256", "source_row", "run_id"]
    exprs += [lit(ctx.compartment), lit(ctx.evidence_sha256), "c._row", str(ctx.run_id)]
    engine.execute(
        f"INSERT INTO {q(ev.kind)} ({', '.join(q(c) for c in target_cols)})"
        f" SELECT {', '.join(exprs)} FROM _checked c WHERE c._errors IS NULL AND NOT c._already"
    )


def _check_query(
    comp: _Compiler, mapping: Mapping, ctx: LoadContext, joins: list[str]
) -> tuple[str, list[str]]:
    """The SQL that builds ``_checked`` from the chunk ``_chunk``, and the event-id columns."""
    # The raw text is kept only where normalising changes it (names, accounts, ...); facets
    # (an IBAN's country, a name's transliteration) only where an event needs them per row:
    # entities get theirs after being collapsed to distinct values (see _store_entities).
    used_raw = {
        r.field
        for e in mapping.entities
        for _, r in e.properties
        if r.field and mapping.fields[r.field].type.is_distinct_normalised
    }
    row_facets = {(r.field, r.facet) for ev in mapping.events for _, r in ev.columns if r.facet}
    select = ["s._row AS _row"]
    errors = []
    reasons = []
    for spec in mapping.fields.values():
        value, error = comp.value_and_error(spec)
        select.append(f"{value} AS {q('f_' + spec.name)}")
        reasons.append(error)
        errors.append(
            f"{{'field': {lit(spec.name)}, 'column': {lit(spec.column)}, 'reason': {error}}}"
        )
        for facet in FACETS.get(spec.type, ()):
            if (spec.name, facet) not in row_facets:
                continue
            if comp.present(spec):
                n = comp.norm_table(spec)
                select.append(f"{n}.{q(facet)} AS {q('x_' + spec.name + '_' + facet)}")
            else:
                select.append(f"CAST(NULL AS VARCHAR) AS {q('x_' + spec.name + '_' + facet)}")
        if spec.name in used_raw:
            select.append(f"{comp.raw(spec)} AS {q('r_' + spec.name)}")
    if mapping.require_any:
        cond = " OR ".join(
            "(" + " AND ".join(f"{comp.raw(mapping.fields[f])} IS NOT NULL" for f in g) + ")"
            for g in mapping.require_any
        )
        need = " or ".join(" + ".join(g) for g in mapping.require_any)
        first_field = mapping.require_any[0][0]
        reason = f"CASE WHEN NOT ({cond}) THEN {lit('needs ' + need)} END"
        reasons.append(reason)
        errors.append(
            f"{{'field': {lit(first_field)}, 'column': {lit(mapping.fields[first_field].column)},"
            f" 'reason': {reason}}}"
        )
    ids = []
    for ev in mapping.events:
        refs = dict(ev.columns)
        parts = " || '|' || ".join(
            f"coalesce(CAST({comp.ref(refs[c])} AS VARCHAR), '')" for c in ev.id_from
        )
        prefix = lit(f"{ctx.compartment}|{mapping.namespace}|{ev.kind}|")
        ids.append(f"md5({prefix} || {parts}) AS {q('v_' + ev.kind)}")
    checked_sql = (
        "CREATE OR REPLACE TEMP TABLE _checked AS SELECT c.*"
        + "".join(f", {x}" for x in ids)
        + ", FALSE AS _already FROM (SELECT c.*"
        + "".join(f", {sql} AS {name}" for sql, name in comp.hash_columns.items())
        + " FROM (SELECT "
        + ", ".join(select)
        # clean rows (nearly all) carry NULL, not an empty list: building a list of structs
        # per row was the most expensive step of a large load
        + f", CASE WHEN coalesce({', '.join(reasons)}) IS NOT NULL THEN"
        + f" list_filter([{', '.join(errors)}], lambda e: e.reason IS NOT NULL) END AS _errors"
        + f" FROM {comp.trimmed_source('_chunk')} s {' '.join(joins)}) c) c"
    )
    return checked_sql, ids


def _prepare_event_checks(
    engine: Engine,
    comp: _Compiler,
    mapping: Mapping,
    stage: str,
    join_of: dict[str, str],
    id_columns: list[str],
) -> None:
    """Per event kind: ``_dups_KIND`` (ids seen more than once in the file, with the first row) and
    ``_known_KIND`` (events already in the workspace with an id this file also has)."""
    if not mapping.events:
        return
    by_name = {e.name: e for e in mapping.entities}
    needed: set[str] = set()
    hash_sql: dict[str, str] = {}
    for ev in mapping.events:
        refs = dict(ev.columns)
        for column in ev.id_from:
            ref = refs[column]
            needed.update(ref.fields_used())
            for name in (ref.entity, *ref.entities):
                if name:
                    needed.update(by_name[name].key)
                    needed.update(comp.when_fields(by_name[name]))
                    key_hash = comp.key_hash(by_name[name])
                    hash_sql[key_hash] = comp.hash_columns[key_hash]
    fields = [mapping.fields[f] for f in sorted(needed)]
    values = ", ".join(f"{comp.value_and_error(f)[0]} AS {q('f_' + f.name)}" for f in fields)
    hashes = "".join(f", {sql} AS {name}" for sql, name in hash_sql.items())
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _file_ids AS SELECT c._row, {', '.join(id_columns)}"
        f" FROM (SELECT c.*{hashes} FROM (SELECT s._row{', ' if values else ''}{values}"
        f" FROM {comp.trimmed_source(q(stage))} s"
        f" {' '.join(join_of[f.name] for f in fields if f.name in join_of)}) c) c"
    )
    for ev in mapping.events:
        vid = q("v_" + ev.kind)
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {q('_dups_' + ev.kind)} AS SELECT {vid} AS v,"
            f" min(_row) AS first_row FROM _file_ids GROUP BY {vid} HAVING count(*) > 1"
        )
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {q('_known_' + ev.kind)} AS SELECT x.* FROM {q(ev.kind)} x"
            f" SEMI JOIN _file_ids f ON x.id = f.{vid}"
        )
    engine.execute("DROP TABLE _file_ids")


def _mark_event_issues(
    engine: Engine, comp: _Compiler, kind_name: str, refs: dict[str, ValueRef]
) -> None:
    """A second row with the same event id in this file is an error; an event already stored with
    the same content is a duplicate (counted, not stored again); with other content, a conflict."""
    kind = event_kind(kind_name)
    vid = q("v_" + kind_name)
    required = {k.name for k in kind.columns if k.required}
    same = " AND ".join(
        f"x.{q(c)} IS NOT DISTINCT FROM {_cast_for(kind, c, comp.ref(refs[c]))}"
        for c in refs
        if c in required
    )
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _event_issues AS"
        f" SELECT c._row, 'same {kind_name} id as row ' || d.first_row || ' of this file' AS reason,"
        f" FALSE AS already FROM _checked c JOIN {q('_dups_' + kind_name)} d"
        f" ON c.{vid} = d.v AND c._row <> d.first_row"
        f" UNION ALL SELECT c._row, CASE WHEN NOT ({same}) THEN 'conflicts with the {kind_name}"
        " event already stored from evidence ' || left(x.evidence_sha256, 12) || ' row ' ||"
        f" x.source_row END, ({same}) FROM _checked c JOIN {q('_known_' + kind_name)} x"
        f" ON x.id = c.{vid}"
    )
    engine.execute(
        "UPDATE _checked SET _errors = list_concat(_checked._errors, [{'field': 'id',"
        " 'column': NULL, 'reason': i.reason}]) FROM (SELECT _row, min(reason) AS reason"
        " FROM _event_issues WHERE reason IS NOT NULL GROUP BY _row) i WHERE _checked._row = i._row"
    )
    engine.execute(
        "UPDATE _checked SET _already = TRUE FROM (SELECT DISTINCT _row FROM _event_issues"
        " WHERE already) i WHERE _checked._row = i._row"
    )


def _drop_quietly(engine: Engine, *tables: str) -> None:
    """Drop temp tables; after a failure the transaction is aborted and the rollback drops them."""
    for table in tables:
        with contextlib.suppress(Exception):
            engine.execute(f"DROP TABLE IF EXISTS {table}")


def _cast_for(kind: Any, column: str, expr: str) -> str:
    sql_type = kind.column(column).sql_type
    return f"CAST({expr} AS {sql_type})"


def _quarantine_insert(engine: Engine, ctx: LoadContext, select_sql: str) -> None:
    """Insert quarantine rows from a SELECT of (_row, errors list, raw text)."""
    engine.execute(
        "INSERT INTO quarantine SELECT"
        " (SELECT coalesce(max(id), 0) FROM quarantine) + row_number() OVER (ORDER BY t._row),"
        f" {ctx.run_id}, {lit(ctx.evidence_sha256)}, {lit(ctx.file_name)}, t._row,"
        " t.errs[1].field,"
        " array_to_string(list_transform(t.errs, lambda e: e.field || ': ' || e.reason), '; '),"
        " to_json(t.errs), t.raw, "
        f" {lit(ctx.compartment)}, 'open', NULL"
        f" FROM ({select_sql}) AS t(_row, errs, raw)"
    )


def _quarantine_rejects(engine: Engine, ctx: LoadContext, rejects: list[dict[str, Any]]) -> None:
    table = pa.table(
        {
            "_row": pa.array([r["row"] for r in rejects], pa.int64()),
            "field": pa.array([r.get("field") for r in rejects], pa.string()),
            "reason": pa.array([r["reason"] for r in rejects], pa.string()),
            "raw": pa.array([(r.get("raw") or "")[:RAW_LIMIT] for r in rejects], pa.string()),
        }
    )
    engine.register("_rejects", table)
    try:
        _quarantine_insert(
            engine,
            ctx,
            "SELECT _row, [{'field': coalesce(field, '(record)'), 'column': field, 'reason': reason}],"
            " raw FROM _rejects",
        )
    finally:
        engine.unregister("_rejects")


def _property_columns(comp: _Compiler, mapping: Mapping, ref: ValueRef, tag: str) -> list[str]:
    """SQL for one property's value and original text over the checked table. A facet's value
    is its field's value here; the facet itself is looked up after the collapse."""
    value = comp.ref(ref if ref.facet is None else ValueRef(field=ref.field))
    original = "CAST(NULL AS VARCHAR)"
    value_sql = f"CAST({value} AS VARCHAR)"
    if ref.field and not ref.facet:
        spec = mapping.fields[ref.field]
        original = f"c.{q('r_' + ref.field)}" if spec.type.is_distinct_normalised else value_sql
        if spec.type == ValueType.DATETIME:
            value_sql = f"strftime({value}, '%Y-%m-%dT%H:%M:%SZ')"
            original = value_sql
    return [f"{value_sql} AS v{tag}", f"{original} AS o{tag}"]


def _entity_groups(comp: _Compiler, mapping: Mapping) -> dict[str, list[EntitySpec]]:
    """Entities keyed alike (an account, its holder, the holding) share one key hash."""
    groups: dict[str, list[EntitySpec]] = {}
    for entity in mapping.entities:
        groups.setdefault(comp.hash_columns[comp.key_hash(entity)], []).append(entity)
    return groups


def _collect_entities(
    engine: Engine, comp: _Compiler, mapping: Mapping, *, append: bool
) -> list[str]:
    """Collapse the checked rows to their distinct property values (a million payments name a few
    thousand accounts), in one pass per key hash, into tables that ``_store_entities`` reads."""
    tables = []
    for hash_column, entities in _entity_groups(comp, mapping).items():
        table = q(f"_ent{hash_column}")
        tables.append(table)
        cols: list[str] = []
        ids = []
        for j, entity in enumerate(entities):
            eid = comp.entity_ref(entity.name)
            ids.append(eid)
            cols.append(f"{eid} AS e{j}")
            for i, (_prop, ref) in enumerate(entity.properties):
                cols += _property_columns(comp, mapping, ref, f"{j}_{i}")
        select = (
            f"SELECT {', '.join(cols)}, min(c._row) AS _row FROM _checked c WHERE c._errors IS NULL"
            f" AND ({' OR '.join(f'{e} IS NOT NULL' for e in ids)}) GROUP BY ALL"
        )
        if append:
            engine.execute(f"INSERT INTO {table} {select}")
        else:
            engine.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {select}")
    return tables


def _unpivot(
    comp: _Compiler,
    mapping: Mapping,
    table: str,
    entity: EntitySpec,
    j: int,
    i: int,
    prop: str,
    ref: ValueRef,
) -> str:
    """Statements of one property from a collapsed table; names and facets look up their
    normalised forms in the (small) normaliser table by value: they are functions of the value."""
    t = f"{j}_{i}"
    kind = lit(entity.kind)
    spec = mapping.fields.get(ref.field or "")
    looked_up = (
        spec is not None
        and comp.present(spec)
        and (ref.facet is not None or spec.type == ValueType.NAME)
    )
    if not looked_up:
        if ref.facet is not None:
            return "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE FALSE"
        return (
            f"SELECT e{j}, {kind}, {lit(prop)}, v{t}, o{t}, CAST(NULL AS VARCHAR),"
            f" CAST(NULL AS VARCHAR), _row FROM {table} WHERE e{j} IS NOT NULL AND v{t} IS NOT NULL"
        )
    assert spec is not None
    norm = q(comp.norm_source(spec))
    if ref.facet is not None:
        facet = q(ref.facet)
        return (
            f"SELECT x.e{j}, {kind}, {lit(prop)}, n.{facet}, NULL, NULL, NULL, x._row FROM {table} x"
            f" JOIN (SELECT DISTINCT value, {facet} FROM {norm}) n ON n.value = x.v{t}"
            f" WHERE x.e{j} IS NOT NULL AND n.{facet} IS NOT NULL"
        )
    return (
        f"SELECT x.e{j}, {kind}, {lit(prop)}, x.v{t}, x.o{t}, n.normalised, n.translit, x._row"
        f" FROM {table} x LEFT JOIN (SELECT DISTINCT value, normalised, translit FROM {norm}) n"
        f" ON n.value = x.v{t} WHERE x.e{j} IS NOT NULL AND x.v{t} IS NOT NULL"
    )


def _store_entities(
    engine: Engine, comp: _Compiler, mapping: Mapping, ctx: LoadContext, tables: list[str]
) -> int:
    """Unpivot the collected property values into statements and store the new ones."""
    if not tables:
        return 0
    parts = []
    for table, entities in zip(tables, _entity_groups(comp, mapping).values(), strict=True):
        for j, entity in enumerate(entities):
            parts.append(
                f"SELECT e{j}, {lit(entity.kind)}, 'id', e{j}, CAST(NULL AS VARCHAR),"
                f" CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), _row FROM {table}"
                f" WHERE e{j} IS NOT NULL"
            )
            for i, (prop, ref) in enumerate(entity.properties):
                parts.append(_unpivot(comp, mapping, table, entity, j, i, prop, ref))
    return _store_statement_rows(engine, " UNION ALL ".join(parts), ctx)


def _store_statement_rows(engine: Engine, rows_sql: str, ctx: LoadContext) -> int:
    """Group statement rows (entity_id, schema, prop, value, original, normalised, translit, _row)
    to one statement per entity, property, value and source, and insert the new ones."""
    sid = (
        "md5(entity_id || '|' || prop || '|' || value || '|' "
        f"|| {lit(ctx.compartment)} || '|' || {lit(ctx.evidence_sha256)})"
    )
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _new_statements AS"
        f" SELECT {sid} AS id, entity_id, any_value(schema) AS schema, prop, value,"
        " arg_min(original, _row) AS original, arg_min(normalised, _row) AS normalised,"
        " arg_min(translit, _row) AS translit, min(_row) AS source_row"
        f" FROM ({rows_sql}) AS r(entity_id, schema, prop, value, original, normalised, translit, _row)"
        " GROUP BY entity_id, prop, value"
    )
    try:
        engine.execute(
            "INSERT INTO statements SELECT n.id, n.entity_id, n.schema, n.prop, n.value, n.original,"
            f" n.normalised, n.translit, {lit(ctx.compartment)}, {lit(ctx.evidence_sha256)},"
            f" n.source_row, {ctx.run_id}, 1.0 FROM _new_statements n"
            " ANTI JOIN statements s ON s.id = n.id"
        )
        return int(engine.rows("SELECT count(*) FROM _new_statements")[0][0])
    finally:
        _drop_quietly(engine, "_new_statements")


def insert_statement_rows(engine: Engine, table: pa.Table, ctx: LoadContext) -> int:
    """Insert prepared statement rows (entity_id, schema, prop, value, original, normalised,
    translit, source_row), for readers that build entities themselves (FtM)."""
    engine.register("_prepared_statements", table)
    try:
        return _store_statement_rows(
            engine,
            "SELECT entity_id, schema, prop, value, original, normalised, translit, source_row"
            " FROM _prepared_statements",
            ctx,
        )
    finally:
        engine.unregister("_prepared_statements")


def quarantine_records(engine: Engine, ctx: LoadContext, records: list[dict[str, Any]]) -> None:
    """Quarantine records a reader rejected (row, field, reason, raw)."""
    if records:
        _quarantine_rejects(engine, ctx, records)
