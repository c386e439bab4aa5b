"""Normalisers for the value types that need rich rules (names, countries, phones, accounts, e-mails,
currencies, genders). They run over the *distinct* raw values of a column, not over every row: a
10-million-row bank export holds a few thousand accounts, so this stays cheap, and the store joins
the result back in SQL. Dates, amounts and integers are cast by the engine itself (see the loader).

Each normaliser returns, per raw value: the normalised value, an error (or None) and its facets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers
import pyarrow as pa
from anyascii import anyascii
from babel.numbers import list_currencies
from followthemoney.types import registry
from rigour.names import normalize_name
from rigour.territories import lookup_territory
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from palermo.model import ValueType
from palermo.model.values import ValueType as VT


@dataclass
class Normalised:
    value: str | None
    error: str | None = None
    facets: dict[str, str | None] = field(default_factory=dict)


def _name(raw: str, options: dict[str, Any]) -> Normalised:
    value = " ".join(raw.split())
    norm = normalize_name(value) or None
    if norm is None:
        return Normalised(None, f"not a name: {raw!r}")
    translit = " ".join(anyascii(norm).lower().split()) or None
    return Normalised(value, None, {"normalised": norm, "translit": translit})


@lru_cache(maxsize=4096)
def _territory(raw: str) -> str | None:
    territory = lookup_territory(raw.strip())
    if territory is None:
        return None
    return str(territory.code).upper()


def _country(raw: str, options: dict[str, Any]) -> Normalised:
    code = _territory(raw)
    if code is None:
        return Normalised(None, f"unknown country: {raw!r} (expected ISO 3166 code or name)")
    return Normalised(code)


_CURRENCIES = frozenset(list_currencies())


def _currency(raw: str, options: dict[str, Any]) -> Normalised:
    code = raw.strip().upper()
    if code not in _CURRENCIES:
        return Normalised(None, f"unknown currency: {raw!r} (expected an ISO 4217 code)")
    return Normalised(code)


def _phone(raw: str, options: dict[str, Any]) -> Normalised:
    region = options.get("phone_region")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        return Normalised(None, f"not a phone number: {raw!r} ({exc})")
    if not phonenumbers.is_possible_number(number):
        return Normalised(None, f"not a possible phone number: {raw!r}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region_code = phonenumbers.region_code_for_number(number)
    return Normalised(
        e164, None, {"country": region_code if region_code not in (None, "ZZ") else None}
    )


def _looks_like_iban(compact: str) -> bool:
    return len(compact) >= 15 and compact[:2].isalpha() and compact[2:4].isdigit()


def _iban(raw: str, options: dict[str, Any]) -> Normalised:
    try:
        iban = IBAN(raw)
    except SchwiftyException as exc:
        return Normalised(None, f"invalid IBAN {raw!r}: {exc}")
    return Normalised(iban.compact, None, {"country": iban.country_code})


def _account(raw: str, options: dict[str, Any]) -> Normalised:
    compact = "".join(raw.split()).upper()
    if _looks_like_iban(compact):
        result = _iban(compact, options)
        if result.error is None:
            result.facets = {"iban": result.value, "country": result.facets.get("country")}
        return result
    if not any(ch.isalnum() for ch in compact):
        return Normalised(None, f"not an account number: {raw!r}")
    return Normalised(compact, None, {"iban": None, "country": None})


def _email(raw: str, options: dict[str, Any]) -> Normalised:
    cleaned = registry.email.clean(raw.strip())
    if cleaned is None:
        return Normalised(None, f"not an e-mail address: {raw!r}")
    return Normalised(str(cleaned))


def _gender(raw: str, options: dict[str, Any]) -> Normalised:
    cleaned = registry.gender.clean(raw.strip())
    if cleaned is None:
        return Normalised(None, f"unknown gender: {raw!r} (male, female, other)")
    return Normalised(str(cleaned))


NORMALISERS: dict[ValueType, Callable[[str, dict[str, Any]], Normalised]] = {
    VT.NAME: _name,
    VT.COUNTRY: _country,
    VT.CURRENCY: _currency,
    VT.PHONE: _phone,
    VT.ACCOUNT: _account,
    VT.IBAN: _iban,
    VT.EMAIL: _email,
    VT.GENDER: _gender,
}

#: Facet columns each type's table carries (names also carry their normalised and transliterated form).
FACET_COLUMNS: dict[ValueType, tuple[str, ...]] = {
    VT.NAME: ("normalised", "translit"),
    VT.ACCOUNT: ("iban", "country"),
    VT.IBAN: ("country",),
    VT.PHONE: ("country",),
}


def normalise_values(vtype: ValueType, raws: Iterable[str], options: dict[str, Any]) -> pa.Table:
    """Normalise distinct raw values; returns a table raw, value, error, and one column per facet."""
    func = NORMALISERS[vtype]
    facet_names = FACET_COLUMNS.get(vtype, ())
    raw_col: list[str] = []
    values: list[str | None] = []
    errors: list[str | None] = []
    facets: dict[str, list[str | None]] = {name: [] for name in facet_names}
    for raw in raws:
        result = func(raw, options)
        raw_col.append(raw)
        values.append(result.value)
        errors.append(result.error)
        for name in facet_names:
            facets[name].append(result.facets.get(name))
    columns: dict[str, Any] = {
        "raw": pa.array(raw_col, pa.string()),
        "value": pa.array(values, pa.string()),
        "error": pa.array(errors, pa.string()),
    }
    for name in facet_names:
        columns[name] = pa.array(facets[name], pa.string())
    return pa.table(columns)


def normalise_one(vtype: ValueType, raw: str, options: dict[str, Any] | None = None) -> Normalised:
    """Normalise a single value (for the FtM reader and for tests)."""
    return NORMALISERS[vtype](raw, options or {})
