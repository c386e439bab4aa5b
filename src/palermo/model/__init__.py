"""Palermo's vocabulary: entity kinds (FollowTheMoney-aligned), event kinds, value types, roles and
forms of exploitation. No I/O beyond reading the FtM schema that ships with ``followthemoney``."""

from palermo.model.entities import (
    ENTITY_KINDS,
    LINK_KINDS,
    check_property,
    entity_id,
    entity_key,
    ftm_schema,
)
from palermo.model.events import EVENT_KINDS, EventColumn, EventKind, event_kind
from palermo.model.values import ValueType
from palermo.model.vocabulary import ExploitationForm, Role

__all__ = [
    "ENTITY_KINDS",
    "EVENT_KINDS",
    "LINK_KINDS",
    "EventColumn",
    "EventKind",
    "ExploitationForm",
    "Role",
    "ValueType",
    "check_property",
    "entity_id",
    "entity_key",
    "event_kind",
    "ftm_schema",
]
