"""Declarative mapping files (YAML) from source columns to entities, links and events.

In the spirit of FollowTheMoney's mappings, a mapping names the *fields* it reads (each with a value
type and the source column it comes from), the *entities* it makes from them (FtM kind, key fields
that give a stable id, properties) and the *events* (rows of a typed event table such as payments).
The mapping is compiled into SQL by the store's loader; no row is touched in Python.

    name: payments
    format: csv
    fields:
      transaction_id: {type: identifier, required: true}
      from_account:   {type: account, required: true}
      from_name:      {type: name}
      currency:       {type: currency, required: true, default: EUR}  # where missing/empty
    entities:
      payer_account:
        kind: BankAccount
        key: [from_account]
        scope: global                # same key anywhere -> same entity (IBANs, phones)
        when: [from_account]         # made only where these are given (default: the key);
                                     # an item may be another entity, or a list: any one of
                                     # these fields; unless: [f, ...]: only where none is given
        properties:
          accountNumber: from_account
          iban: {field: from_account, facet: iban}
    events:
      payments:
        source_id: transaction_id
        payer_account_key: {entity: payer_account}   # events refer to entities by key
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from palermo.errors import MappingError
from palermo.model import ValueType, check_property, event_kind
from palermo.model.entities import ftm_schema
from palermo.model.mapping import (
    FACETS,
    FORMATS,
    EntitySpec,
    EventSpec,
    FieldSpec,
    Mapping,
    ValueRef,
)


def builtin_names() -> list[str]:
    folder = resources.files("palermo.ingest") / "mappings"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".yml"))


def load_mapping(name_or_path: str) -> Mapping:
    """Load a built-in mapping by name (``payments``) or a YAML mapping file by path."""
    path = Path(name_or_path)
    if name_or_path in builtin_names():
        text = (resources.files("palermo.ingest") / "mappings" / f"{name_or_path}.yml").read_text()
        origin = f"builtin:{name_or_path}"
    elif path.suffix in (".yml", ".yaml") or path.exists():
        if not path.is_file():
            raise MappingError(f"mapping file {path} not found")
        text = path.read_text(encoding="utf-8")
        origin = str(path.resolve())
    else:
        known = ", ".join(builtin_names())
        raise MappingError(
            f"no built-in mapping {name_or_path!r} (built-in: {known}); or give a .yml path"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {origin}: invalid YAML: {exc}") from exc
    return parse_mapping(data, origin)


def parse_columns_option(text: str | None, option: str = "--columns") -> dict[str, str]:
    """Parse ``--columns field=COLUMN,field2=COLUMN 2`` (or ``--default field=VALUE,...``)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        if "=" not in part:
            raise MappingError(f"{option}: expected field=VALUE, got {part!r}")
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip()
    return out


def _ref(raw: Any, where: str) -> ValueRef:
    if isinstance(raw, str):
        return ValueRef(field=raw)
    if isinstance(raw, dict):
        if "join" in raw:
            return ValueRef(join=tuple(raw["join"]))
        if "entity" in raw:
            if isinstance(raw["entity"], list):
                return ValueRef(entities=tuple(str(e) for e in raw["entity"]))
            return ValueRef(entity=str(raw["entity"]))
        if "const" in raw:
            return ValueRef(const=str(raw["const"]))
        if "field" in raw:
            return ValueRef(field=str(raw["field"]), facet=raw.get("facet"))
    raise MappingError(f"{where}: expected a field name or {{field|join|entity|const: ...}}")


def parse_mapping(data: Any, origin: str) -> Mapping:
    """Validate a mapping's parsed YAML against the model and return it."""
    if not isinstance(data, dict):
        raise MappingError(f"mapping {origin}: expected a YAML mapping at the top level")
    name = str(data.get("name") or Path(origin).stem)
    fmt = data.get("format", "csv")
    if fmt not in FORMATS:
        raise MappingError(f"mapping {name}: format must be one of {', '.join(FORMATS)}")
    fields: dict[str, FieldSpec] = {}
    for fname, spec in (data.get("fields") or {}).items():
        spec = spec or {}
        try:
            vtype = ValueType(spec.get("type", "text"))
        except ValueError:
            raise MappingError(
                f"mapping {name}: field {fname}: unknown type {spec.get('type')!r} "
                f"(known: {', '.join(t.value for t in ValueType)})"
            ) from None
        default = spec.get("default")
        fields[fname] = FieldSpec(
            fname,
            str(spec.get("column", fname)),
            vtype,
            bool(spec.get("required")),
            None if default is None else str(default),
        )

    def check_field(fname: str, where: str) -> None:
        if fname not in fields:
            raise MappingError(f"mapping {name}: {where} uses unknown field {fname!r}")

    def check_refs(ref: ValueRef, where: str, entity_names: set[str]) -> None:
        for f in ref.fields_used():
            check_field(f, where)
        if ref.facet is not None:
            assert ref.field is not None
            allowed = FACETS.get(fields[ref.field].type, ())
            if ref.facet not in allowed:
                raise MappingError(
                    f"mapping {name}: {where}: type {fields[ref.field].type} has no facet {ref.facet!r}"
                )
        for ent in (ref.entity, *ref.entities):
            if ent is not None and ent not in entity_names:
                raise MappingError(f"mapping {name}: {where}: unknown entity {ent!r}")

    raw_entities = data.get("entities") or {}
    entity_names = set(raw_entities)
    entities: list[EntitySpec] = []
    for ename, spec in raw_entities.items():
        kind = str(spec.get("kind", ""))
        ftm_schema(kind)
        key = tuple(spec.get("key") or ())
        if not key:
            raise MappingError(
                f"mapping {name}: entity {ename} needs a key (fields that identify it)"
            )
        for k in key:
            check_field(k, f"entity {ename} key")
        scope = spec.get("scope", "source")
        if scope not in ("source", "global"):
            raise MappingError(f"mapping {name}: entity {ename}: scope must be source or global")
        when: list[str | tuple[str, ...]] = []
        for w in spec.get("when") or key:
            if isinstance(w, list):  # any one of these fields
                if not w:
                    raise MappingError(f"mapping {name}: entity {ename}: when has an empty list")
                for f in w:
                    check_field(str(f), f"entity {ename} when")
                when.append(tuple(str(f) for f in w))
            elif w not in fields and w not in entity_names:
                raise MappingError(f"mapping {name}: entity {ename}: when uses unknown {w!r}")
            else:
                when.append(str(w))
        unless = tuple(str(f) for f in spec.get("unless") or ())
        for f in unless:
            check_field(f, f"entity {ename} unless")
        props: list[tuple[str, ValueRef]] = []
        for prop, raw in (spec.get("properties") or {}).items():
            check_property(kind, prop)
            for item in raw if isinstance(raw, list) else [raw]:
                ref = _ref(item, f"entity {ename}.{prop}")
                check_refs(ref, f"entity {ename}.{prop}", entity_names)
                props.append((prop, ref))
        entities.append(EntitySpec(ename, kind, key, scope, tuple(when), tuple(props), unless))

    events: list[EventSpec] = []
    for kname, spec in (data.get("events") or {}).items():
        kind = event_kind(kname)
        cols: list[tuple[str, ValueRef]] = []
        spec = dict(spec or {})
        id_from = tuple(spec.pop("id_from", None) or ())
        for col, raw in spec.items():
            column = kind.column(col)
            ref = _ref(raw, f"event {kname}.{col}")
            check_refs(ref, f"event {kname}.{col}", entity_names)
            is_entity = bool(ref.entity or ref.entities)
            if column.entity != is_entity:
                raise MappingError(
                    f"mapping {name}: event {kname}.{col}: "
                    + (
                        "an entity key column takes an entity ({entity: NAME})"
                        if column.entity
                        else "takes a value, not an entity (entity columns end in _key)"
                    )
                )
            cols.append((col, ref))
        mapped = {c for c, _ in cols}
        missing = [c.name for c in kind.columns if c.required and c.name not in mapped]
        if missing:
            raise MappingError(f"mapping {name}: event {kname} needs columns {', '.join(missing)}")
        if not id_from:
            id_from = (
                ("source_id",)
                if "source_id" in mapped
                else tuple(c.name for c in kind.columns if c.required)
            )
        events.append(EventSpec(kname, tuple(cols), id_from))

    require_any = tuple(tuple(g) for g in (data.get("require_any") or ()))
    for group in require_any:
        for f in group:
            check_field(f, "require_any")
    return Mapping(
        name=name,
        format=fmt,
        description=str(data.get("description", "")),
        namespace=str(data.get("namespace") or name),
        fields=fields,
        require_any=require_any,
        entities=tuple(entities),
        events=tuple(events),
        options=dict(data.get("options") or {}),
        origin=origin,
    )
