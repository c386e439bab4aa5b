"""The shape of a mapping (declarative, no I/O): fields, the entities and events made from them.
``palermo.ingest.mapping`` parses YAML into these; the store's loader compiles them into SQL."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from palermo.errors import MappingError
from palermo.model.values import ValueType

FORMATS = ("csv", "xlsx", "ftm", "goaml")
#: Mapping options (YAML ``options:``, ``Mapping.with_options``) and the JSON types they take.
OPTIONS: dict[str, tuple[type, ...]] = {
    "phone_region": (str,),  # region for phone numbers written without a country code
    "decimal_comma": (bool,),  # amounts written 1.234,56
    "datetime_formats": (list,),  # strptime formats tried for times
    "date_formats": (list,),  # strptime formats tried for dates
    "max_text_length": (int,),  # characters a text value may have
    "chunk_rows": (int,),  # rows checked and stored per step
    "timezone": (str,),  # IANA zone of times written without an offset (default UTC)
}
#: Facets a normaliser derives from one value (e.g. the IBAN inside an account number).
FACETS: dict[ValueType, tuple[str, ...]] = {
    ValueType.ACCOUNT: ("iban", "country"),
    ValueType.IBAN: ("country",),
    ValueType.PHONE: ("country",),
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    column: str
    type: ValueType
    required: bool = False
    default: str | None = None  # used where the column is missing or the cell empty


@dataclass(frozen=True)
class ValueRef:
    """Where a property or event column takes its value from."""

    field: str | None = None  # a field's normalised value
    facet: str | None = None  # ... or one of its facets
    entity: str | None = None  # ... or the id of another entity of the same row
    entities: tuple[str, ...] = ()  # ... or the first of these entities' ids that exists
    join: tuple[str, ...] = ()  # ... or the non-empty fields joined with a space
    const: str | None = None  # ... or a constant

    def fields_used(self) -> tuple[str, ...]:
        if self.field:
            return (self.field,)
        return self.join


@dataclass(frozen=True)
class EntitySpec:
    name: str
    kind: str
    key: tuple[str, ...]
    scope: str  # "global" or "source"
    #: the entity exists where each of these is given: a field, another entity (its conditions),
    #: or a tuple of fields of which any one is given
    when: tuple[str | tuple[str, ...], ...]
    properties: tuple[tuple[str, ValueRef], ...]
    #: ... and none of these fields is given (``unless:``). Not in the repr: the fingerprints of
    #: mappings without it stay as they were (``Mapping.to_dict`` adds it where set).
    unless: tuple[str, ...] = field(default=(), repr=False)

    def fingerprint_text(self) -> str:
        return repr(self) + (f" unless={self.unless!r}" if self.unless else "")


@dataclass(frozen=True)
class EventSpec:
    kind: str
    columns: tuple[tuple[str, ValueRef], ...]
    id_from: tuple[str, ...]  # fields that make the event's id (default: source_id)


@dataclass(frozen=True)
class Mapping:
    name: str
    format: str
    description: str = ""
    namespace: str = ""
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    require_any: tuple[tuple[str, ...], ...] = ()
    entities: tuple[EntitySpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "builtin:NAME" or the file path

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the mapping's content: the same file with the same mapping is a no-op."""
        payload = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "namespace": self.namespace,
            "fields": {
                k: [v.column, str(v.type), v.required, v.default] for k, v in self.fields.items()
            },
            "require_any": [list(g) for g in self.require_any],
            "entities": [e.fingerprint_text() for e in self.entities],
            "events": [repr(e) for e in self.events],
            "options": self.options,
        }

    def with_columns(self, overrides: dict[str, str]) -> Mapping:
        """Return a copy reading ``field`` from another source column (``--columns f=COL``)."""
        return self._with_field_values(overrides, "column", "--columns")

    def with_defaults(self, defaults: dict[str, str]) -> Mapping:
        """Return a copy using ``value`` where a field's column is missing or empty
        (``--default currency=EUR`` for an export that has no currency column)."""
        return self._with_field_values(defaults, "default", "--default")

    def with_options(self, options: dict[str, Any]) -> Mapping:
        """Return a copy with ``options`` merged over the mapping's own (``decimal_comma``,
        ``datetime_formats``, ``timezone``, ...: see ``OPTIONS``); they are part of the
        fingerprint, so the same file read with other options is another ingest."""
        merged = dict(self.options)
        for name, value in options.items():
            types = OPTIONS.get(name)
            if types is None:
                raise MappingError(
                    f"options: mapping {self.name!r} has no option {name!r}"
                    f" (known: {', '.join(OPTIONS)})"
                )
            ok = isinstance(value, types) and not (bool not in types and isinstance(value, bool))
            if ok and isinstance(value, list):
                ok = bool(value) and all(isinstance(v, str) for v in value)
            if not ok:
                expected = "a list of strings" if list in types else types[0].__name__
                raise MappingError(f"options: {name} must be {expected}, not {value!r}")
            merged[name] = value
        return replace(self, options=merged)

    def _with_field_values(
        self, values: dict[str, str], attribute: Literal["column", "default"], option: str
    ) -> Mapping:
        fields = dict(self.fields)
        for name, value in values.items():
            if name not in fields:
                known = ", ".join(fields) or "none"
                raise MappingError(
                    f"{option}: mapping {self.name!r} has no field {name!r} ({known})"
                )
            spec = fields[name]
            if attribute == "column":
                fields[name] = replace(spec, column=value)
            else:
                fields[name] = replace(spec, default=value)
        return replace(self, fields=fields)
