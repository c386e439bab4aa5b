"""Typed event kinds: what comes in millions (payments, calls) is stored one row per event in a
columnar table, not as statements. Events refer to entities by their 64-bit key
(``model.entity_key``; the ``entity_keys`` table maps keys back to ids), not by the id string: a
payment names four entities, and four 45-character strings per row were half the cost of storing it. Each column names its SQL type and the value type a mapping must
feed it. The store's migrations create exactly these columns (tests/model checks it)."""

from __future__ import annotations

from dataclasses import dataclass

from palermo.errors import MappingError
from palermo.model.values import ValueType


@dataclass(frozen=True)
class EventColumn:
    name: str
    sql_type: str
    value_type: ValueType | None  # None: filled by the loader (ids, entity references)
    description: str
    required: bool = False
    entity: bool = False  # an entity key (see model.entity_key), filled from an entity reference


@dataclass(frozen=True)
class EventKind:
    name: str  # table name
    ftm_schema: str  # the FtM schema an event exports as
    columns: tuple[EventColumn, ...]
    description: str

    def column(self, name: str) -> EventColumn:
        for col in self.columns:
            if col.name == name:
                return col
        known = ", ".join(c.name for c in self.columns)
        raise MappingError(f"event kind {self.name!r} has no column {name!r} (known: {known})")


#: Provenance columns every event row carries (the loader fills them).
PROVENANCE_COLUMNS: tuple[EventColumn, ...] = (
    EventColumn("compartment", "VARCHAR", None, "agency / case / JIT compartment"),
    EventColumn("evidence_sha256", "VARCHAR", None, "SHA-256 of the source file"),
    EventColumn("source_row", "BIGINT", None, "row of the record in the source file"),
    EventColumn("run_id", "BIGINT", None, "ingest run that stored the row"),
)

_E = EventColumn
_T = ValueType

PAYMENTS = EventKind(
    name="payments",
    ftm_schema="Payment",
    description="Money transfers between accounts (bank exports, goAML, FtM Payment).",
    columns=(
        _E("id", "VARCHAR", None, "stable id: compartment + source namespace + source id"),
        _E("source_id", "VARCHAR", _T.IDENTIFIER, "transaction id as the source wrote it", True),
        _E("occurred_at", "TIMESTAMPTZ", _T.DATETIME, "when the money moved (UTC)", True),
        _E("payer_key", "BIGINT", None, "entity key of the paying party", entity=True),
        _E("payer_account_key", "BIGINT", None, "entity key of the paying account", entity=True),
        _E("payer_account", "VARCHAR", _T.ACCOUNT, "paying account (IBAN or number)"),
        _E("payee_key", "BIGINT", None, "entity key of the receiving party", entity=True),
        _E("payee_account_key", "BIGINT", None, "entity key of the receiving account", entity=True),
        _E("payee_account", "VARCHAR", _T.ACCOUNT, "receiving account (IBAN or number)"),
        _E("amount", "DECIMAL(20,4)", _T.AMOUNT, "amount in the payment's currency", True),
        _E("currency", "VARCHAR", _T.CURRENCY, "ISO 4217 currency", True),
        _E("amount_eur", "DECIMAL(20,4)", None, "amount in EUR where a rate is known"),
        _E("payer_country", "VARCHAR", _T.COUNTRY, "ISO 3166 alpha-2 of the paying side"),
        _E("payee_country", "VARCHAR", _T.COUNTRY, "ISO 3166 alpha-2 of the receiving side"),
        _E("payment_type", "VARCHAR", _T.TEXT, "transfer, cash_deposit, remittance, card, ..."),
        _E("reference", "VARCHAR", _T.TEXT, "payment reference / purpose"),
        *PROVENANCE_COLUMNS,
    ),
)

CALLS = EventKind(
    name="calls",
    ftm_schema="Call",
    description="Call-detail records (voice calls and SMS) between phone numbers.",
    columns=(
        _E("id", "VARCHAR", None, "stable id: compartment + caller + callee + start time"),
        _E("source_id", "VARCHAR", _T.IDENTIFIER, "record id as the source wrote it"),
        _E("started_at", "TIMESTAMPTZ", _T.DATETIME, "start of the call (UTC)", True),
        _E("caller", "VARCHAR", _T.PHONE, "calling number, E.164", True),
        _E("callee", "VARCHAR", _T.PHONE, "called number, E.164", True),
        _E("duration_s", "BIGINT", _T.INTEGER, "duration in seconds (0 for SMS)"),
        _E("caller_cell", "VARCHAR", _T.TEXT, "cell id of the caller"),
        _E("callee_cell", "VARCHAR", _T.TEXT, "cell id of the callee"),
        _E("call_type", "VARCHAR", _T.TEXT, "voice, sms, ..."),
        *PROVENANCE_COLUMNS,
    ),
)

EVENT_KINDS: dict[str, EventKind] = {kind.name: kind for kind in (PAYMENTS, CALLS)}


def event_kind(name: str) -> EventKind:
    try:
        return EVENT_KINDS[name]
    except KeyError:
        raise MappingError(
            f"unknown event kind {name!r} (known: {', '.join(EVENT_KINDS)})"
        ) from None
