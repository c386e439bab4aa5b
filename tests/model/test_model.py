"""The model matches FollowTheMoney and the store's schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from followthemoney import model as ftm

import palermo
from palermo.errors import MappingError
from palermo.model import (
    ENTITY_KINDS,
    EVENT_KINDS,
    LINK_KINDS,
    check_property,
    entity_id,
    entity_key,
)


@pytest.mark.parametrize("kind", ENTITY_KINDS + LINK_KINDS)
def test_every_kind_is_an_ftm_schema(kind: str) -> None:
    assert ftm.get(kind) is not None


def test_unknown_property_is_refused() -> None:
    with pytest.raises(MappingError, match="no property"):
        check_property("Person", "shoeSize")


def test_event_tables_have_exactly_the_model_columns(tmp_path: Path) -> None:
    with palermo.init(tmp_path / "ws") as ws:
        for kind in EVENT_KINDS.values():
            table = ws.sql(f"SELECT * FROM {kind.name} LIMIT 0")
            assert table.column_names == [c.name for c in kind.columns]


def test_python_and_sql_entity_ids_agree(tmp_path: Path) -> None:
    samples = Path(palermo.__file__).parent / "samples"
    with palermo.init(tmp_path / "ws") as ws:
        ws.ingest(samples / "payments.csv", mapping="payments")
        iban = (
            ws.sql(
                "SELECT value FROM statements WHERE schema = 'BankAccount' AND prop = 'iban' LIMIT 1"
            )
            .column("value")[0]
            .as_py()
        )
        expected = entity_id("global", "BankAccount", iban)
        ids = (
            ws.sql(
                "SELECT DISTINCT entity_id FROM statements WHERE prop = 'iban' AND value = ?",
                [iban],
            )
            .column("entity_id")
            .to_pylist()
        )
    assert ids == [expected]


def test_python_and_sql_entity_keys_agree(tmp_path: Path) -> None:
    samples = Path(palermo.__file__).parent / "samples"
    with palermo.init(tmp_path / "ws") as ws:
        ws.ingest(samples / "payments.csv", mapping="payments")
        ws.ingest(samples / "entities.ftm.jsonl", mapping="ftm")
        keys = ws.sql("SELECT key, entity_id FROM entity_keys").to_pylist()
        payments = ws.sql(
            "SELECT payer_key, payer_account_key, payee_key, payee_account_key FROM payments"
        ).to_pylist()
        stated = set(ws.sql("SELECT DISTINCT entity_id FROM statements").column(0).to_pylist())
    assert keys and all(k["key"] == entity_key(k["entity_id"]) for k in keys)
    # every key an event uses maps back to an entity id, and each stated entity has its key
    known = {k["key"] for k in keys}
    used = {v for p in payments for v in p.values() if v is not None}
    assert used and used <= known
    assert {k["entity_id"] for k in keys} >= stated
    assert min(known) >= -(2**63) and max(known) < 2**63


def test_entity_key_is_fixed() -> None:
    # the definition, pinned: a change would orphan every stored event
    assert entity_key("x") == 3783177783470249117 - 2**63
