"""Person records made comparable: which column is which, and each value normalised the same way
whatever source, script or layout it came from.

Names are transliterated to lower-case ASCII (rigour's name normalisation, then anyascii: 'Іонуц
Попеску', 'Ionuț Popescu' and 'IONUT POPESCU' all become 'ionut popescu'/'ionuts popesku', close
enough for a string similarity); the tokens are also kept sorted (name-part order does not matter),
with a phonetic key (jellyfish's metaphone) for blocking and the canonical forms of English
nicknames (the ``nicknames`` package: 'bob' → 'robert'). Dates of birth are read from the common
layouts and kept with their day/month-swapped twin. Work happens once per distinct value.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import jellyfish
from anyascii import anyascii
from rigour.names import normalize_name

from palermo.errors import PalermoError

#: Canonical field -> the column names recognised for it (case-insensitive), first = canonical.
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "given_name", "forename", "firstname", "first", "given"),
    "last_name": ("last_name", "surname", "family_name", "lastname", "last", "family"),
    "full_name": ("full_name", "name", "fullname", "person_name"),
    "date_of_birth": ("date_of_birth", "dob", "birth_date", "birthdate", "born"),
    "gender": ("gender", "sex"),
    "nationality": ("nationality", "citizenship", "country_of_citizenship"),
    "address": ("address", "address_1", "street", "street_address", "address_line_1"),
    "city": ("city", "town", "suburb", "locality"),
    "postcode": ("postcode", "post_code", "postal_code", "zip", "zipcode", "zip_code"),
    "phone": ("phone", "phone_number", "mobile", "telephone", "tel"),
    "id_number": ("id_number", "passport", "passport_number", "national_id", "soc_sec_id", "ssn"),
}
FIELDS = tuple(FIELD_COLUMNS)
#: Date layouts tried in order (day before month where a layout is ambiguous: European records).
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%y")


def recognise(
    header: list[str], id_column: str, overrides: dict[str, str], *, name: str
) -> dict[str, str]:
    """field -> column of ``header``: the ``overrides`` first (``--columns field=COLUMN``), then the
    recognised names. Raises a PalermoError naming the file for an unknown field or column, a
    missing id column, or a file with no name column at all."""
    if id_column not in header:
        raise PalermoError(
            f"{name}: no id column {id_column!r} (columns: {', '.join(header) or 'none'})"
        )
    mapping: dict[str, str] = {}
    for field, column in overrides.items():
        if field not in FIELD_COLUMNS:
            raise PalermoError(f"--columns: unknown field {field!r} (known: {', '.join(FIELDS)})")
        if column not in header:
            raise PalermoError(f"{name}: --columns {field}={column}: no such column")
        mapping[field] = column
    lower = {h.lower().strip(): h for h in header if h != id_column}
    taken = set(mapping.values())
    for field, names in FIELD_COLUMNS.items():
        if field in mapping:
            continue
        for candidate in names:
            found = lower.get(candidate)
            if found is not None and found not in taken:
                mapping[field] = found
                taken.add(found)
                break
    if not ({"first_name", "last_name", "full_name"} & set(mapping)):
        raise PalermoError(
            f"{name}: no name column (first_name/last_name, surname, full_name, or"
            " --columns full_name=COLUMN)"
        )
    return mapping


@lru_cache(maxsize=200_000)
def translit(raw: str | None) -> str | None:
    """Lower-case ASCII form of a name, punctuation and extra spaces dropped."""
    if not raw:
        return None
    norm = normalize_name(raw) or ""
    text = " ".join(anyascii(norm).lower().replace(".", " ").split())
    return text or None


@lru_cache(maxsize=200_000)
def phonetic(token: str | None) -> str | None:
    if not token:
        return None
    return jellyfish.metaphone(token.replace(" ", "")) or None


@lru_cache(maxsize=1)
def _nicknamer() -> object:
    from nicknames import NickNamer

    return NickNamer()


@lru_cache(maxsize=100_000)
def canonical_given(given: str | None) -> str | None:
    """The canonical forename behind a nickname or diminutive ('bob' -> 'robert'); the name itself
    where none is known. Where several are known, the alphabetically first (deterministic)."""
    if not given:
        return None
    first = given.split()[0]
    canon = sorted(_nicknamer().canonicals_of(first))  # type: ignore[attr-defined]
    return canon[0] if canon else first


@lru_cache(maxsize=100_000)
def nickname_forms(token: str) -> frozenset[str]:
    """The names ``token`` is a nickname or a formal form of, by the ``nicknames`` package
    ('bob' -> bert, bobby, robert; 'robert' -> bill, billy, bob): both directions, so that two
    records with 'bob' and 'robert' share forms whichever way a clerk wrote it."""
    return frozenset(_nicknamer().canonicals_of(token))  # type: ignore[attr-defined]


_VOWELS = str.maketrans("", "", "aeiouy'`-")


@lru_cache(maxsize=200_000)
def skeleton(name_key: str | None) -> str | None:
    """The consonants of a name, tokens sorted and run together, doubled letters once: how
    names written without vowels (Arabic, Hebrew) meet their Latin spellings ('mhmd `ly' and
    'mohammed aly' are both 'lmhmd')."""
    if not name_key:
        return None
    tokens = sorted(t.translate(_VOWELS) for t in name_key.split())
    text = "".join(tokens)
    out = "".join(c for i, c in enumerate(text) if i == 0 or c != text[i - 1])
    return out if len(out) >= 3 else None


def split_names(
    first: str | None, last: str | None, full: str | None
) -> tuple[str | None, str | None, str | None]:
    """(given, family, sorted-token key) in transliterated form. A full name alone is split at its
    last token (the sorted key makes the order irrelevant where it matters)."""
    given, family = translit(first), translit(last)
    whole = translit(full)
    if whole and not (given or family):
        tokens = whole.split()
        family = tokens[-1]
        given = " ".join(tokens[:-1]) or None
    tokens = sorted(" ".join(t for t in (given, family) if t).split()) if (given or family) else []
    if whole and not tokens:
        tokens = sorted(whole.split())
    return given, family, " ".join(tokens) or None


def distinct(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})
