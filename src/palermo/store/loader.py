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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from palermo.errors import MappingError, PalermoError
from palermo.model import ValueType, event_kind
from palermo.model.mapping import EntitySpec, EventSpec, FieldSpec, Mapping, ValueRef
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


def key_sql(entity_id: str) -> str:
    """SQL for the 64-bit key of an entity id (the same as ``model.entity_key``)."""
    return (
        f"((md5_number({entity_id}) & 18446744073709551615)::HUGEINT - 9223372036854775808)::BIGINT"
    )


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
        self.hash_keys: dict[str, tuple[str, ...]] = {}
        for entity in mapping.entities:
            column = self.hash_columns.setdefault(
                self.key_hash(entity), f"_h{len(self.hash_columns)}"
            )
            self.hash_keys[column] = entity.key

    def raw(self, spec: FieldSpec) -> str:
        """The field's source text (staged trimmed, NULL when empty), or the field's default
        where there is none."""
        default = "CAST(NULL AS VARCHAR)" if spec.default is None else lit(spec.default)
        if spec.column not in self.columns:
            return default
        if spec.default is not None:
            return f"coalesce(s.{q(spec.column)}, {default})"
        return f"s.{q(spec.column)}"

    def present(self, spec: FieldSpec) -> bool:
        """Whether the field has values: a column in the file, or a default."""
        return spec.column in self.columns or spec.default is not None

    def norm_source(self, spec: FieldSpec) -> str:
        """The registered normaliser table of the field's type (shared by fields of that type)."""
        return f"_norm_{spec.type.value}"

    def norm_table(self, spec: FieldSpec) -> str:
        """The field's alias of its type's normaliser table in a query."""
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

    def value_sql(self, spec: FieldSpec) -> str:
        """SQL for the typed value of a field over the staged source ``s`` (and, for the types
        normalised in Python, the field's join of its normaliser table)."""
        raw = self.raw(spec)
        t = spec.type
        if not self.present(spec):
            return "NULL"
        if t.is_distinct_normalised:
            return f"{self.norm_table(spec)}.value"
        if t in (ValueType.TEXT, ValueType.IDENTIFIER):
            return raw
        if t == ValueType.DATETIME:
            formats = self.m.options.get("datetime_formats", DATETIME_FORMATS)
            zone = self.m.options.get("timezone")
            if zone and zone != "UTC":
                # times that carry an offset keep it; the others are local times in `zone`
                local_fmts = ", ".join(lit(f) for f in formats if "%z" not in f.lower())
                naive = (
                    f"COALESCE(TRY_CAST({raw} AS TIMESTAMP), try_strptime({raw}, [{local_fmts}]))"
                )
                value = (
                    f"(CASE WHEN regexp_matches({raw}, '([Zz]|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
                    f" THEN TRY_CAST({raw} AS TIMESTAMPTZ) ELSE timezone({lit(zone)}, {naive}) END)"
                )
            else:
                fmts = ", ".join(lit(f) for f in formats)
                value = (
                    f"COALESCE(TRY_CAST({raw} AS TIMESTAMPTZ),"
                    f" TRY_CAST(try_strptime({raw}, [{fmts}]) AS TIMESTAMPTZ))"
                )
            # compared with constants: year() of a TIMESTAMPTZ goes through ICU and cost twice
            # as much as parsing
            return (
                f"(CASE WHEN {value} >= TIMESTAMPTZ '1900-01-01 00:00:00+00'"
                f" AND {value} < TIMESTAMPTZ '2101-01-01 00:00:00+00' THEN {value} END)"
            )
        if t == ValueType.DATE:
            fmts = ", ".join(lit(f) for f in self.m.options.get("date_formats", DATE_FORMATS))
            value = f"COALESCE(TRY_CAST({raw} AS DATE), TRY_CAST(try_strptime({raw}, [{fmts}]) AS DATE))"
            return (
                f"(CASE WHEN {value} >= DATE '1800-01-01' AND {value} < DATE '2101-01-01'"
                f" THEN {value} END)"
            )
        if t == ValueType.AMOUNT:
            # Only unambiguous layouts: 1234.56 / 1,234.56 (or with options.decimal_comma:
            # 1234,56 / 1.234,56). Anything else is quarantined, never guessed.
            layout, thousands, decimal = self._amount_layout()
            cleaned = f"replace({raw}, ' ', '')"
            number = f"replace(replace({cleaned}, {lit(thousands)}, ''), {lit(decimal)}, '.')"
            return (
                f"(CASE WHEN regexp_matches({cleaned}, {lit(layout)})"
                f" THEN TRY_CAST({number} AS DECIMAL(20,4)) END)"
            )
        if t == ValueType.INTEGER:
            return f"TRY_CAST({raw} AS BIGINT)"
        if t == ValueType.NUMBER:
            return f"(CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END)"
        raise AssertionError(t)  # pragma: no cover - every ValueType is handled above

    def text_sql(self, spec: FieldSpec, value: str) -> str:
        """SQL for a field's typed ``value`` as the text a statement keeps: numbers and amounts
        without trailing zeros (``1800``, ``62.5``, not ``1800.0000``), as FtM writes them."""
        text = f"CAST({value} AS VARCHAR)"
        if spec.type in (ValueType.AMOUNT, ValueType.NUMBER):
            return (
                f"(CASE WHEN contains({text}, '.') AND NOT contains({text}, 'e')"
                f" THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END)"
            )
        return text

    def _amount_layout(self) -> tuple[str, str, str]:
        if self.m.options.get("decimal_comma"):
            return r"^-?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?$", ".", ","
        return r"^-?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?$", ",", "."

    def error_sql(
        self, spec: FieldSpec, value: str, norm_error: str, raw: str | None = None
    ) -> str:
        """SQL for a field's error (NULL when fine), given SQL for its computed ``value`` and, for
        the types normalised in Python, for the normaliser's error of its raw text (and for its
        ``raw`` text when not the staged column)."""
        raw = raw or self.raw(spec)
        shown = f"left({raw}, 80)"
        t = spec.type
        if not self.present(spec):
            error = "CAST(NULL AS VARCHAR)"
        elif t.is_distinct_normalised:
            error = norm_error
            if t == ValueType.NAME:
                error = f"coalesce({self.text_error(raw)}, {error})"
        elif t in (ValueType.TEXT, ValueType.IDENTIFIER):
            error = self.text_error(raw)
        elif t == ValueType.DATETIME:
            error = f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a valid date and time: ' || {shown} END"
        elif t == ValueType.DATE:
            error = f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a valid date: ' || {shown} END"
        elif t == ValueType.AMOUNT:
            _layout, thousands, decimal = self._amount_layout()
            hint = "1.234,56 needs options.decimal_comma" if thousands == "," else "decimal comma"
            error = (
                f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not an amount: ' || {shown}"
                f" || {lit(f' (expected 1234{decimal}56 or 1{thousands}234{decimal}56; {hint})')}"
                f" WHEN {value} < 0 THEN 'negative amount ' || {shown} ||"
                " ' (the direction is given by the from/to columns)' END"
            )
        elif t == ValueType.INTEGER:
            error = (
                f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a whole number: ' || {shown}"
                f" WHEN {value} < 0 THEN 'negative number: ' || {shown} END"
            )
        elif t == ValueType.NUMBER:
            error = f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN 'not a number: ' || {shown} END"
        else:  # pragma: no cover - every ValueType is handled above
            raise AssertionError(t)
        if spec.required:
            error = f"CASE WHEN {raw} IS NULL THEN 'required value is missing' ELSE {error} END"
        return error

    def join(self, spec: FieldSpec, table: str | None = None) -> str:
        """The LEFT JOIN of a field's normaliser table (or of ``table``, keyed alike) by raw text."""
        alias = self.norm_table(spec)
        source = q(table or self.norm_source(spec))
        return f"LEFT JOIN {source} AS {alias} ON {alias}.raw = {self.raw(spec)}"

    # -- which fields an expression needs -----------------------------------------------------
    def entity_fields(self, name: str) -> set[str]:
        """Fields an entity's id is made from: its key and its ``when`` conditions."""
        entity = next(e for e in self.m.entities if e.name == name)
        return {*entity.key, *self.when_fields(entity)}

    def ref_fields(self, ref: ValueRef) -> set[str]:
        out = set(ref.fields_used())
        for name in (ref.entity, *ref.entities):
            if name:
                out |= self.entity_fields(name)
        return out

    def values_query(
        self,
        source: str,
        fields: set[str],
        *,
        raws: set[str] = frozenset(),  # type: ignore[assignment]
        facets: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
        extra: Sequence[str] = (),
        check: set[ValueType] | None = None,
    ) -> str:
        """A query over ``source`` (aliased ``s``: staged columns and ``_row``) with the typed value
        ``f_FIELD`` of each of ``fields``, the raw text ``r_FIELD`` of ``raws``, the facets
        ``x_FIELD_FACET`` of ``facets``, the key hashes whose keys are all in ``fields``, and the
        ``extra`` columns (SQL over that result, aliased ``c``). What ``ref`` reads is there.

        With ``check`` (the types whose normaliser refused some values) it also has ``_ok``: the
        row has no error in any field (the same rules as ``_error_scan``, from values computed
        once)."""
        select = ["s._row AS _row"]
        joins = []
        valued = set(fields)
        if check is not None:
            valued |= {
                n
                for n, spec in self.m.fields.items()
                if self.present(spec)
                and not spec.type.is_distinct_normalised
                and spec.type not in (ValueType.TEXT, ValueType.IDENTIFIER)
            }
            raws = set(raws) | set(self.m.fields)
        for name in sorted(valued):
            spec = self.m.fields[name]
            select.append(f"{self.value_sql(spec)} AS {q('f_' + name)}")
            if spec.type.is_distinct_normalised and self.present(spec):
                joins.append(self.join(spec))
        for name in sorted(raws):
            select.append(f"{self.raw(self.m.fields[name])} AS {q('r_' + name)}")
        if check is not None:
            for name, spec in self.m.fields.items():
                norm_error = "CAST(NULL AS VARCHAR)"
                if spec.type.is_distinct_normalised and self.present(spec):
                    if name in valued:
                        norm_error = f"{self.norm_table(spec)}.error"
                    elif spec.type in check:
                        joins.append(self.join(spec, self.norm_source(spec) + "_bad"))
                        norm_error = f"{self.norm_table(spec)}.error"
                select.append(f"{norm_error} AS {q('e_' + name)}")
            oks = ", ".join(sql for _, _, sql in self.row_errors())
            extra = [*extra, f"coalesce({oks}) IS NULL AS _ok"]
        for name, facet in sorted(facets):
            spec = self.m.fields[name]
            column = q("x_" + name + "_" + facet)
            if self.present(spec):
                select.append(f"{self.norm_table(spec)}.{q(facet)} AS {column}")
            else:
                select.append(f"CAST(NULL AS VARCHAR) AS {column}")
        for entity in self.m.entities:
            by = self.keyed_by_value(entity)
            if by is not None and by.name in fields:
                key = q(self.value_key_column(entity))
                select.append(f"{self.norm_table(by)}.{key} AS {q('k_' + entity.name)}")
        hashes = "".join(
            f", {sql} AS {column}"
            for sql, column in self.hash_columns.items()
            if set(self.hash_keys[column]) <= fields
        )
        extras = "".join(f", {x}" for x in extra)
        return (
            f"SELECT c.*{extras} FROM (SELECT c.*{hashes} FROM (SELECT {', '.join(select)}"
            f" FROM {source} s {' '.join(joins)}) c) c"
        )

    def row_errors(self) -> list[tuple[str, str, str]]:
        """Every rule a row must pass, as (field, column, SQL for its error or NULL) over a
        ``values_query`` made with ``check``: the one place the rules are written, for both the
        check in the storing pass and the error scan that gives the reasons."""
        out: list[tuple[str, str, str]] = []
        for name, spec in self.m.fields.items():
            sql_typed = self.present(spec) and not spec.type.is_distinct_normalised
            value = f"c.{q('f_' + name)}" if sql_typed else "NULL"
            raw = f"c.{q('r_' + name)}"
            out.append((name, spec.column, self.error_sql(spec, value, f"c.{q('e_' + name)}", raw)))
        if self.m.require_any:
            groups = self.m.require_any
            cond = " OR ".join(
                "(" + " AND ".join(f"c.{q('r_' + f)} IS NOT NULL" for f in g) + ")" for g in groups
            )
            need = " or ".join(" + ".join(g) for g in groups)
            first = groups[0][0]
            out.append(
                (
                    first,
                    self.m.fields[first].column,
                    f"CASE WHEN NOT ({cond}) THEN {lit('needs ' + need)} END",
                )
            )
        return out

    # -- entity ids --------------------------------------------------------------------------
    def namespace(self, entity: EntitySpec) -> str:
        if entity.scope == "global":
            return "global"
        return f"{self.ctx.compartment}:{self.m.namespace}"

    def conditions(self, entity: EntitySpec) -> tuple[list[tuple[str, ...]], list[str]]:
        """The entity's conditions: groups of fields of which one must be given (each ``when``
        item; another entity's conditions for its name) and fields that must not be
        (``unless``)."""
        by_name = {e.name: e for e in self.m.entities}
        given: list[tuple[str, ...]] = []
        absent: list[str] = list(entity.unless)
        for w in entity.when:
            if isinstance(w, tuple):
                given.append(w)
            elif w in by_name:
                more, less = self.conditions(by_name[w])
                given += more
                absent += less
            else:
                given.append((w,))
        return given, absent

    def when_fields(self, entity: EntitySpec) -> list[str]:
        """Every field the entity's conditions read."""
        given, absent = self.conditions(entity)
        return [f for group in given for f in group] + absent

    def key_hash(self, entity: EntitySpec) -> str:
        """SQL for the hash of an entity's namespace and keys (see ``model.entity_id``)."""
        parts = " || '|' || ".join(
            f"coalesce(CAST(c.{q('f_' + k)} AS VARCHAR), '')" for k in entity.key
        )
        return f"md5({lit(self.namespace(entity) + '|')} || {parts})"

    def entity_ref(self, name: str) -> str:
        """SQL for an entity's id over a ``values_query``: computed where used, from one hash
        column per key (an account, its holder and the holding share it)."""
        entity = next(e for e in self.m.entities if e.name == name)
        prefix = lit(entity.kind.lower() + "-")
        column = self.hash_columns[self.key_hash(entity)]
        return f"CASE WHEN {self.when_sql(entity)} THEN {prefix} || c.{q(column)} END"

    def when_sql(self, entity: EntitySpec) -> str:
        given, absent = self.conditions(entity)
        terms = [
            "(" + " OR ".join(f"c.{q('f_' + f)} IS NOT NULL" for f in group) + ")"
            if len(group) > 1
            else f"c.{q('f_' + group[0])} IS NOT NULL"
            for group in given
        ]
        terms += [f"c.{q('f_' + f)} IS NULL" for f in absent]
        return " AND ".join(terms) or "TRUE"

    def keyed_by_value(self, entity: EntitySpec) -> FieldSpec | None:
        """The field whose normalised values alone make the entity's id, when that field is
        normalised over its distinct values: the entity's key is then computed once per value
        (in the normaliser table), not once per row."""
        if len(entity.key) != 1:
            return None
        spec = self.m.fields[entity.key[0]]
        return spec if spec.type.is_distinct_normalised and self.present(spec) else None

    def value_key_column(self, entity: EntitySpec) -> str:
        """The normaliser-table column holding the keys of this entity kind and namespace."""
        return f"k_{entity.kind.lower()}_{self.namespace(entity)}"

    def value_key_sql(self, entity: EntitySpec) -> str:
        """SQL over a normaliser table for the key of the entity each ``value`` makes."""
        hashed = f"md5({lit(self.namespace(entity) + '|')} || coalesce(value, ''))"
        return key_sql(f"{lit(entity.kind.lower() + '-')} || {hashed}")

    def entity_key_ref(self, name: str) -> str:
        """SQL for an entity's 64-bit key over a ``values_query`` (see ``model.entity_key``)."""
        entity = next(e for e in self.m.entities if e.name == name)
        if self.keyed_by_value(entity) is not None:
            return f"CASE WHEN {self.when_sql(entity)} THEN c.{q('k_' + name)} END"
        return key_sql(self.entity_ref(name))

    def ref(self, ref: ValueRef, *, keys: bool = False) -> str:
        """SQL for a value reference over a ``values_query`` ``c``; entities as their ids, or
        with ``keys`` as their 64-bit keys."""
        entity = self.entity_key_ref if keys else self.entity_ref
        if ref.entity is not None:
            return entity(ref.entity)
        if ref.entities:
            return "coalesce(" + ", ".join(entity(e) for e in ref.entities) + ")"
        if ref.const is not None:
            return lit(ref.const)
        if ref.join:
            parts = ", ".join(self.text_sql(self.m.fields[f], f"c.{q('f_' + f)}") for f in ref.join)
            return f"NULLIF(concat_ws(' ', {parts}), '')"
        assert ref.field is not None
        if ref.facet is not None:
            return f"c.{q('x_' + ref.field + '_' + ref.facet)}"
        return f"c.{q('f_' + ref.field)}"


def stage_columns(engine: Engine, stage: str) -> list[str]:
    return [row[0] for row in engine.rows(f"SELECT column_name FROM (DESCRIBE {q(stage)})")]


def check_timezone(engine: Engine, mapping: Mapping) -> None:
    """A mapping's ``timezone`` option must name a zone the engine knows."""
    zone = mapping.options.get("timezone")
    if zone and not engine.rows("SELECT 1 FROM pg_timezone_names() WHERE name = ?", [zone]):
        raise MappingError(
            f"mapping {mapping.name}: unknown time zone {zone!r} (e.g. Europe/London)"
        )


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

    The stage's values are trimmed, empty ones NULL (the readers do that while staging).
    ``rejects`` are records the reader could not even split into fields (wrong column count, bad
    encoding); they go to the quarantine as they are. ``on_chunk(done, total)`` reports progress in
    rows. Call inside the ingest transaction.

    The entities' raw values are collapsed to distinct combinations first, over the whole file.
    Per chunk of rows the events are written straight from the staged rows and their normalised
    values, checked in the same pass; only a chunk where some row failed is scanned again for the
    reasons, and those rows are quarantined. Nothing row-sized is materialised besides the events
    themselves.
    """
    cols = stage_columns(engine, stage)
    comp = _Compiler(mapping, [c for c in cols if c != "_row"], ctx)
    check_timezone(engine, mapping)
    result = LoadResult(events={})
    registered: list[str] = []
    temps = ["_bad", "_skip", "_event_issues", "_shared", "_candidates"]
    try:
        # 1. rich normalisers over the distinct values of each such type (a payer's and a
        #    payee's accounts are one set: each value is normalised once), in one scan
        by_type: dict[ValueType, list[FieldSpec]] = {}
        failed: set[ValueType] = set()  # the types with values their normaliser refused
        for spec in mapping.fields.values():
            if spec.type.is_distinct_normalised and comp.present(spec):
                by_type.setdefault(spec.type, []).append(spec)
        # Each entity group's distinct raw values (with their first row), over the whole file:
        # a million payments name a few thousand accounts. Rows found bad later are taken out
        # then (rare). The distinct values to normalise come from these small tables where
        # they can (one DISTINCT per other field: a grouped aggregate runs in parallel).
        groups = _entity_groups(comp, mapping)
        group_columns = {h: _group_columns(comp, mapping, ents) for h, ents in groups.items()}
        temps += [q(f"_eraw{h}") for h in groups] + [q(f"_ent{h}") for h in groups]
        _collect_raw(engine, group_columns, q(stage))
        found = {}
        for specs in by_type.values():
            for spec in specs:
                source = q(stage)
                for h, columns in group_columns.items():
                    if spec.column in columns:
                        source = q(f"_eraw{h}")
                        break
                found[spec.name] = (
                    engine.arrow(
                        f"SELECT DISTINCT {comp.raw(spec)} AS v FROM {source} s"
                        f" WHERE {comp.raw(spec)} IS NOT NULL"
                    )
                    .column("v")
                    .to_pylist()
                )
        values_of = {
            vtype: sorted({v for spec in specs for v in found[spec.name]})
            for vtype, specs in by_type.items()
        }

        def normalise_all() -> dict[ValueType, pa.Table]:
            return {t: normalise(t, values, mapping.options) for t, values in values_of.items()}

        # 2. duplicate event ids inside the file. When the ids need no normalised value, the
        #    engine looks for them while Python normalises (it releases the GIL meanwhile).
        id_fields: set[str] = set()
        for ev in mapping.events:
            id_fields |= set().union(*(comp.ref_fields(dict(ev.columns)[c]) for c in ev.id_from))
        ids_first = not any(mapping.fields[f].type.is_distinct_normalised for f in id_fields)
        if ids_first and by_type:
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(normalise_all)
                _find_duplicate_ids(engine, comp, mapping, stage)
                normalised = pending.result()
        else:
            normalised = normalise_all()
            if ids_first:
                _find_duplicate_ids(engine, comp, mapping, stage)
        for vtype, specs in by_type.items():
            table = normalised[vtype]
            name = comp.norm_source(specs[0])
            engine.register(name + "_py", table)
            registered.append(name + "_py")
            # with the keys of the entities that values of this type make by themselves
            keys = {
                comp.value_key_column(e): comp.value_key_sql(e)
                for e in mapping.entities
                if (by := comp.keyed_by_value(e)) is not None and by.type == vtype
            }
            engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {q(name)} AS SELECT *"
                + "".join(f", {sql} AS {q(column)}" for column, sql in keys.items())
                + f" FROM {q(name + '_py')}"
            )
            temps.append(q(name))
            # the values that failed, for the error scan: a join with a handful of rows
            bad = f"{name}_bad"
            engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {q(bad)} AS"
                f" SELECT raw, error FROM {q(name)} WHERE error IS NOT NULL"
            )
            temps.append(q(bad))
            if engine.rows(f"SELECT count(*) FROM {q(bad)}")[0][0]:
                failed.add(vtype)

        # 3. events stored before with an id this file has (identical: counted as duplicates;
        #    different: conflicts), once for the whole file, not per chunk
        if not ids_first:
            _find_duplicate_ids(engine, comp, mapping, stage)
        _find_known_events(engine, comp, mapping, stage)
        error_scan = _error_scan(comp, failed)
        raw_record = (
            "to_json({" + ", ".join(f"{lit(c)}: s.{q(c)}" for c in cols if c != "_row") + "})"
        )
        engine.execute("CREATE OR REPLACE TEMP TABLE _bad_rows (_row BIGINT)")
        temps.append("_bad_rows")
        any_bad = False
        bounds = engine.rows(f"SELECT min(_row), max(_row), count(*) FROM {q(stage)}")
        first, last, total = bounds[0]
        chunk = int(mapping.options.get("chunk_rows", CHUNK_ROWS))
        # From here on no step relies on the order rows are written in (rows carry _row), and
        # order-preserving sinks cost time.
        engine.execute("SET preserve_insertion_order = false")
        for lo in range(int(first or 0), int(last or -1) + 1, chunk):
            in_chunk = f"_row >= {lo} AND _row < {lo + chunk}"
            engine.execute(
                f"CREATE OR REPLACE TEMP VIEW _chunk AS SELECT * FROM {q(stage)} WHERE {in_chunk}"
            )
            # 4. events, from the rows with no error (checked in the same pass, from the values
            #    computed for storing) and no event issue (no ORDER BY: readers order by what
            #    they need; sorting is not free)
            engine.execute(
                "CREATE OR REPLACE TEMP TABLE _skip AS SELECT DISTINCT _row FROM _event_issues"
                f" WHERE {in_chunk}"
            )
            n, issues = engine.rows(
                "SELECT (SELECT count(*) FROM _chunk), (SELECT count(*) FROM _skip)"
            )[0]
            stored = [_insert_events(engine, comp, ev, ctx, failed) for ev in mapping.events]
            # 5. the rows with any error, and why: the error scan runs only when a row failed
            #    (or when nothing was stored to tell)
            clean = bool(stored) and stored[0] == n - issues
            scanned = (
                "" if clean else f"SELECT 0 AS k, _row, _errors FROM ({error_scan}) e UNION ALL "
            )
            engine.execute(
                "CREATE OR REPLACE TEMP TABLE _bad AS SELECT _row,"
                f" flatten(list(_errors ORDER BY k)) AS _errors FROM ({scanned}"
                " SELECT 1 AS k, _row, [{'field': 'id', 'column': CAST(NULL AS VARCHAR),"
                " 'reason': min(reason)}] AS _errors FROM _event_issues"
                f" WHERE reason IS NOT NULL AND {in_chunk} GROUP BY _row) GROUP BY _row"
            )
            _quarantine_insert(
                engine,
                ctx,
                f"SELECT b._row, b._errors, left(CAST({raw_record} AS VARCHAR), {RAW_LIMIT})"
                " FROM _bad b JOIN _chunk s ON s._row = b._row",
            )
            bad, skipped = engine.rows(
                "SELECT (SELECT count(*) FROM _bad), (SELECT count(*) FROM (SELECT _row FROM _bad"
                f" UNION SELECT _row FROM _event_issues WHERE already AND {in_chunk}))"
            )[0]
            if any(count != n - skipped for count in stored):  # pragma: no cover - a bug
                raise AssertionError(
                    f"rows stored ({stored}) disagree with the rows checked ({n} - {skipped})"
                )
            result.rows_read += int(n)
            result.rows_quarantined += int(bad)
            result.rows_duplicate += int(skipped) - int(bad)
            result.rows_stored += int(n) - int(skipped)
            if bad:
                engine.execute("INSERT INTO _bad_rows SELECT _row FROM _bad")
                any_bad = True
            if on_chunk is not None:
                on_chunk(result.rows_read, int(total))
        if rejects:
            _quarantine_rejects(engine, ctx, rejects)
            result.rows_read += len(rejects)
            result.rows_quarantined += len(rejects)
        # 6. statements: one per entity, property, value and source, with the first row; the
        #    entities of bad rows left out
        if any_bad:
            _collect_raw(
                engine,
                group_columns,
                f"(SELECT s.* FROM {q(stage)} s ANTI JOIN _bad_rows b ON b._row = s._row)",
            )
        if first is not None:
            collected = _collect_entities(engine, comp, mapping)
            result.statements = _store_entities(engine, comp, mapping, ctx, collected)
        for ev in mapping.events:
            assert result.events is not None
            result.events[ev.kind] = result.rows_stored
        return result
    finally:
        with contextlib.suppress(Exception):
            engine.execute("SET preserve_insertion_order = true")
        for name in registered:
            engine.unregister(name)
        _drop_quietly(engine, *temps)
        for ev in mapping.events:
            _drop_quietly(engine, q("_dups_" + ev.kind), q("_known_" + ev.kind))
        with contextlib.suppress(Exception):
            engine.execute("DROP VIEW IF EXISTS _chunk")


def _collect_raw(engine: Engine, group_columns: dict[str, list[str]], source: str) -> None:
    """Each entity group's distinct raw values in ``source``, with their first row, into its
    ``_eraw`` table. (One scan with GROUPING SETS for all groups measured no faster.)"""
    for h, cols in group_columns.items():
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {q(f'_eraw{h}')} AS"
            f" SELECT {''.join(f's.{q(c)}, ' for c in cols)}min(s._row) AS _row"
            f" FROM {source} s GROUP BY ALL"
        )


def _error_scan(comp: _Compiler, failed: set[ValueType]) -> str:
    """SQL for the rows of ``_chunk`` with any error: (_row, list of {field, column, reason}),
    by the same rules and from the same values as the check in the storing pass (``_ok``); the
    types normalised in Python join only the values that failed (``failed``)."""
    items = ", ".join(
        f"{{'field': {lit(name)}, 'column': {lit(column)}, 'reason': {sql}}}"
        for name, column, sql in comp.row_errors()
    )
    values = comp.values_query("_chunk", set(), check=failed)
    return (
        f"SELECT c._row, list_filter([{items}], lambda e: e.reason IS NOT NULL) AS _errors"
        f" FROM ({values}) c WHERE NOT c._ok"
    )


def _event_fields(comp: _Compiler, ev: EventSpec) -> set[str]:
    return set().union(*(comp.ref_fields(r) for _, r in ev.columns))


def _event_id(comp: _Compiler, mapping: Mapping, ctx: LoadContext, ev: EventSpec) -> str:
    """SQL (over a ``values_query``) for an event's id: a hash of its compartment, mapping
    namespace, kind and ``id_from`` values."""
    return f"md5({_event_key_text(comp, mapping, ctx, ev)})"


def _event_key_text(comp: _Compiler, mapping: Mapping, ctx: LoadContext, ev: EventSpec) -> str:
    """SQL for the text an event's id hashes: equal texts, equal ids."""
    refs = dict(ev.columns)
    parts = " || '|' || ".join(
        f"coalesce(CAST({comp.ref(refs[c])} AS VARCHAR), '')" for c in ev.id_from
    )
    return f"{lit(f'{ctx.compartment}|{mapping.namespace}|{ev.kind}|')} || {parts}"


def _insert_events(
    engine: Engine, comp: _Compiler, ev: EventSpec, ctx: LoadContext, failed: set[ValueType]
) -> int:
    """Insert the events of the ``_chunk`` rows that have no error and are not in ``_skip``;
    returns how many."""
    kind = event_kind(ev.kind)
    target_cols = ["id"] + [c for c, _ in ev.columns]
    exprs = [_event_id(comp, comp.m, ctx, ev)]
    exprs += [_cast_for(kind, c, comp.ref(r, keys=kind.column(c).entity)) for c, r in ev.columns]
    if "amount_eur" not in target_cols and "currency" in target_cols:
        target_cols.append("amount_eur")
        cur = comp.ref(dict(ev.columns)["currency"])
        amt = comp.ref(dict(ev.columns)["amount"])
        exprs.append(f"CASE WHEN {cur} = 'EUR' THEN {amt} END")
    target_cols += ["compartment", "evidence_sha256", "source_row", "run_id"]
    exprs += [lit(ctx.compartment), lit(ctx.evidence_sha256), "c._row", str(ctx.run_id)]
    facets = {(r.field, r.facet) for _, r in ev.columns if r.field and r.facet}
    values = comp.values_query(
        "(SELECT s.* FROM _chunk s ANTI JOIN _skip k ON k._row = s._row)",
        _event_fields(comp, ev),
        facets=facets,
        check=failed,
    )
    return int(
        engine.rows(
            f"INSERT INTO {q(ev.kind)} ({', '.join(q(c) for c in target_cols)})"
            f" SELECT {', '.join(exprs)} FROM ({values}) c WHERE c._ok"
        )[0][0]
    )


def _find_duplicate_ids(engine: Engine, comp: _Compiler, mapping: Mapping, stage: str) -> None:
    """``_issues_KIND`` (_row, reason, already) per event kind: each row whose event id an
    earlier row of the file already has. Found by a 64-bit hash of the id's text first (cheap,
    nothing row-sized kept), then exactly, over the few rows whose hash is shared."""
    for ev in mapping.events:
        refs = dict(ev.columns)
        id_sql = _event_id(comp, mapping, comp.ctx, ev)
        needed = set().union(*(comp.ref_fields(refs[c]) for c in ev.id_from))
        dups, issues = q("_dups_" + ev.kind), q("_issues_" + ev.kind)
        # (one id field: its value alone, without building the text: the prefix is constant)
        hashed = (
            f"coalesce(CAST({comp.ref(refs[ev.id_from[0]])} AS VARCHAR), '')"
            if len(ev.id_from) == 1
            else _event_key_text(comp, mapping, comp.ctx, ev)
        )
        by_hash = comp.values_query(q(stage), needed, extra=[f"hash({hashed}) AS _h"])
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE _shared AS SELECT _h FROM ({by_hash}) c"
            " GROUP BY _h HAVING count(*) > 1"
        )
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE _candidates AS SELECT c._row, {id_sql} AS v"
            f" FROM ({by_hash}) c SEMI JOIN _shared h ON h._h = c._h"
        )
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {dups} AS SELECT v, min(_row) AS first_row"
            " FROM _candidates GROUP BY v HAVING count(*) > 1"
        )
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {issues} AS"
            f" SELECT f._row, 'same {ev.kind} id as row ' || d.first_row || ' of this file' AS reason,"
            f" FALSE AS already FROM _candidates f JOIN {dups} d ON f.v = d.v AND f._row <> d.first_row"
        )
    _drop_quietly(engine, "_shared", "_candidates")


def _find_known_events(engine: Engine, comp: _Compiler, mapping: Mapping, stage: str) -> None:
    """``_event_issues`` (_row, reason, already) for the whole file: the duplicates inside it
    (see ``_find_duplicate_ids``) and the events already stored with the same id: with the same
    content a duplicate (counted, not stored again), with other content a conflict (an error)."""
    parts = [
        "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS reason, NULL::BOOLEAN AS already WHERE FALSE"
    ]
    for ev in mapping.events:
        refs = dict(ev.columns)
        vid = q("v_" + ev.kind)
        id_sql = _event_id(comp, mapping, comp.ctx, ev)
        needed = set().union(*(comp.ref_fields(refs[c]) for c in ev.id_from))
        issues = q("_issues_" + ev.kind)
        parts.append(f"SELECT * FROM {issues}")
        # Events stored before with an id this file also has (only looked for when there are any)
        known = q("_known_" + ev.kind)
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {known} AS SELECT * FROM {q(ev.kind)} LIMIT 0"
        )
        if engine.rows(f"SELECT EXISTS (SELECT 1 FROM {q(ev.kind)})")[0][0]:
            ids = comp.values_query(q(stage), needed, extra=[f"{id_sql} AS {vid}"])
            engine.execute(
                f"INSERT INTO {known} SELECT x.* FROM {q(ev.kind)} x"
                f" SEMI JOIN ({ids}) f ON x.id = f.{vid}"
            )
        if engine.rows(f"SELECT count(*) FROM {known}")[0][0]:
            kind = event_kind(ev.kind)
            required = {k.name for k in kind.columns if k.required}
            same = " AND ".join(
                f"x.{q(c)} IS NOT DISTINCT FROM"
                f" {_cast_for(kind, c, comp.ref(refs[c], keys=kind.column(c).entity))}"
                for c in refs
                if c in required
            )
            fields = needed | set().union(
                *(comp.ref_fields(refs[c]) for c in refs if c in required)
            )
            rows = comp.values_query(q(stage), fields, extra=[f"{id_sql} AS {vid}"])
            engine.execute(
                f"INSERT INTO {issues} SELECT c._row, CASE WHEN NOT ({same})"
                f" THEN 'conflicts with the {ev.kind} event already stored from evidence '"
                f" || left(x.evidence_sha256, 12) || ' row ' || x.source_row END, ({same})"
                f" FROM ({rows}) c JOIN {known} x ON x.id = c.{vid}"
            )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE _event_issues AS {' UNION ALL '.join(parts)}")
    for ev in mapping.events:
        _drop_quietly(engine, q("_issues_" + ev.kind))


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
    """SQL for one property's value and original text over a ``values_query``. A facet's value
    is its field's value here; the facet itself is looked up after the collapse."""
    value = comp.ref(ref if ref.facet is None else ValueRef(field=ref.field))
    original = "CAST(NULL AS VARCHAR)"
    value_sql = f"CAST({value} AS VARCHAR)"
    if ref.field and not ref.facet:
        spec = mapping.fields[ref.field]
        value_sql = comp.text_sql(spec, value)
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


def _group_fields(comp: _Compiler, entities: list[EntitySpec]) -> set[str]:
    """The fields an entity group's ids and properties are made from."""
    out: set[str] = set()
    for entity in entities:
        out |= comp.entity_fields(entity.name)
        for _prop, ref in entity.properties:
            out |= comp.ref_fields(ref)
    return out


def _group_columns(comp: _Compiler, mapping: Mapping, entities: list[EntitySpec]) -> list[str]:
    """The staged columns an entity group reads (its fields' columns that the file has)."""
    fields = _group_fields(comp, entities)
    return sorted({mapping.fields[f].column for f in fields} & comp.columns)


def _collect_entities(engine: Engine, comp: _Compiler, mapping: Mapping) -> list[str]:
    """Normalise each group's distinct raw values (a million payments name a few thousand
    accounts) into tables of entity ids and property values that ``_store_entities`` reads."""
    tables = []
    used_raw = {
        r.field
        for e in mapping.entities
        for _, r in e.properties
        if r.field and mapping.fields[r.field].type.is_distinct_normalised
    }
    for hash_column, entities in _entity_groups(comp, mapping).items():
        table = q(f"_ent{hash_column}")
        tables.append(table)
        fields = _group_fields(comp, entities)
        values = comp.values_query(q(f"_eraw{hash_column}"), fields, raws=used_raw & fields)
        cols: list[str] = []
        ids = []
        for j, entity in enumerate(entities):
            eid = comp.entity_ref(entity.name)
            ids.append(eid)
            cols.append(f"{eid} AS e{j}")
            for i, (_prop, ref) in enumerate(entity.properties):
                cols += _property_columns(comp, mapping, ref, f"{j}_{i}")
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {', '.join(cols)},"
            f" min(c._row) AS _row FROM ({values}) c"
            f" WHERE {' OR '.join(f'{e} IS NOT NULL' for e in ids)} GROUP BY ALL"
        )
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
    register_entity_keys(
        engine,
        " UNION ALL ".join(
            f"SELECT e{j} FROM {table}"
            for table, entities in zip(tables, _entity_groups(comp, mapping).values(), strict=True)
            for j in range(len(entities))
        ),
    )
    return _store_statement_rows(engine, " UNION ALL ".join(parts), ctx)


class EntityKeyCollision(PalermoError):
    """Two different entity ids have the same 64-bit key (see ``model.entity_key``)."""


def register_entity_keys(engine: Engine, ids_sql: str) -> None:
    """Record the key of each entity id that ``ids_sql`` (one column) yields in ``entity_keys``.
    A key already recorded for another id is refused: the ingest stops rather than let events of
    two entities merge."""
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE _new_keys AS SELECT DISTINCT {key_sql('id')} AS key,"
        f" id AS entity_id FROM ({ids_sql}) AS t(id) WHERE id IS NOT NULL"
    )
    try:
        clash = engine.rows(
            "SELECT n.key, n.entity_id, k.entity_id FROM _new_keys n JOIN (SELECT * FROM"
            " entity_keys UNION ALL SELECT * FROM _new_keys) k ON k.key = n.key"
            " AND k.entity_id <> n.entity_id LIMIT 1"
        )
        if clash:
            key, one, other = clash[0]
            raise EntityKeyCollision(
                f"entity ids {one!r} and {other!r} have the same 64-bit key {key}; nothing was"
                " stored. Please report this: the key needs widening."
            )
        engine.execute(
            "INSERT INTO entity_keys SELECT n.key, n.entity_id FROM _new_keys n"
            " ANTI JOIN entity_keys k ON k.key = n.key"
        )
    finally:
        _drop_quietly(engine, "_new_keys")


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
        register_entity_keys(engine, "SELECT DISTINCT entity_id FROM _prepared_statements")
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
