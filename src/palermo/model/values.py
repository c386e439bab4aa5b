"""Value types a mapping can give a source column. Each type has one normaliser in
``palermo.ingest.normalise`` and one SQL check in the store's loader."""

from __future__ import annotations

from enum import StrEnum


class ValueType(StrEnum):
    TEXT = "text"  # free text: trimmed, checked for formula injection and size
    NAME = "name"  # a person's or company's name: kept as written + normalised + transliterated
    DATE = "date"  # calendar date (ISO 8601 out)
    DATETIME = "datetime"  # point in time, stored in UTC
    AMOUNT = "amount"  # non-negative decimal money amount
    CURRENCY = "currency"  # ISO 4217 code
    COUNTRY = "country"  # ISO 3166-1 alpha-2 (names and alpha-3 codes accepted)
    PHONE = "phone"  # E.164
    ACCOUNT = "account"  # IBAN (validated) or another account number
    IBAN = "iban"  # IBAN only
    EMAIL = "email"
    INTEGER = "integer"  # non-negative integer (durations, counts)
    NUMBER = "number"  # decimal number (shares, percentages)
    GENDER = "gender"  # male / female / other
    IDENTIFIER = (
        "identifier"  # an id number / passport number / registration number, kept as written
    )

    @property
    def is_distinct_normalised(self) -> bool:
        """Types normalised in Python over the distinct values of a column (few values, rich rules);
        the others are checked and cast in SQL, row by row, in the engine."""
        return self in _PYTHON_TYPES


_PYTHON_TYPES = frozenset(
    {
        ValueType.NAME,
        ValueType.CURRENCY,
        ValueType.COUNTRY,
        ValueType.PHONE,
        ValueType.ACCOUNT,
        ValueType.IBAN,
        ValueType.EMAIL,
        ValueType.GENDER,
    }
)
