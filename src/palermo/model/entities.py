"""Entity and link kinds. The schema itself is FollowTheMoney's (the ``followthemoney`` package ships
it as YAML); Palermo names the subset it uses and checks every property a mapping writes against it,
so that whatever lands in a workspace exports back as valid FtM."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from palermo.errors import MappingError

#: Entity kinds (FtM schema names) that Palermo stores as statements.
ENTITY_KINDS: tuple[str, ...] = (
    "Thing",
    "LegalEntity",
    "Person",
    "Company",
    "Organization",
    "PublicBody",
    "BankAccount",
    "CryptoWallet",
    "Address",
    "Identification",
    "Passport",
    "Vehicle",
    "RealEstate",
    "Asset",
    "Event",
    "Trip",
    "Payment",
    "Call",
    "Email",
    "Message",
    "Note",
)

#: Link kinds: FtM "interval" schemata with an edge (source -> target).
LINK_KINDS: tuple[str, ...] = (
    "Ownership",
    "Directorship",
    "Employment",
    "Membership",
    "Family",
    "Associate",
    "Representation",
    "UnknownLink",
    "Occupancy",
)


@lru_cache(maxsize=1)
def _ftm_model() -> Any:
    from followthemoney import model

    return model


def ftm_schema(name: str) -> Any:
    """The FtM schema object for ``name``; raises MappingError for a kind Palermo does not use."""
    if name not in ENTITY_KINDS and name not in LINK_KINDS:
        known = ", ".join(sorted(ENTITY_KINDS + LINK_KINDS))
        raise MappingError(f"unknown entity kind {name!r} (known: {known})")
    schema = _ftm_model().get(name)
    if schema is None:  # pragma: no cover - guarded by tests/model
        raise MappingError(f"FollowTheMoney has no schema {name!r}")
    return schema


def check_property(kind: str, prop: str) -> None:
    """Raise MappingError unless ``prop`` is a property of entity kind ``kind`` in FtM."""
    schema = ftm_schema(kind)
    if prop not in schema.properties:
        raise MappingError(f"{kind} has no property {prop!r} in FollowTheMoney")


def property_type(kind: str, prop: str) -> str:
    """The FtM type name (``name``, ``date``, ``entity``, ...) of a property."""
    check_property(kind, prop)
    return str(ftm_schema(kind).properties[prop].type.name)


def entity_id(namespace: str, kind: str, *keys: str) -> str:
    """A stable entity id: the same namespace, kind and keys always give the same id.

    The kind is the id's prefix and not part of the hash, so that entities keyed alike (an account,
    its holder and the holding) share one hash per row in a vectorised load. The same algorithm is
    expressed in SQL by the store (``md5`` over the '|'-joined parts); tests/model checks they agree.
    """
    raw = "|".join((namespace, *keys))
    return f"{kind.lower()}-{hashlib.md5(raw.encode('utf-8'), usedforsecurity=False).hexdigest()}"


def entity_key(entity_id: str) -> int:
    """The 64-bit key events use to refer to an entity: the first 8 bytes of MD5(id) read as a
    little-endian unsigned integer, minus 2**63 (a signed BIGINT). Computed in SQL by the store
    (``store.loader.key_sql``); tests/model checks they agree. The store refuses a key that two
    different ids would share (for 10**7 entities, a chance of about 3 in a million)."""
    digest = hashlib.md5(entity_id.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "little") - 2**63
