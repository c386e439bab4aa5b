"""Property: the order in which sources are ingested does not change the entities they make."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import palermo

SAMPLES = Path(palermo.__file__).parent / "samples"
SOURCES = [
    ("payments.csv", "payments"),
    ("persons.csv", "persons"),
    ("companies.csv", "companies"),
    ("entities.ftm.jsonl", "ftm"),
]


def _entities(order: list[tuple[str, str]]) -> set[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp, palermo.init(Path(tmp) / "ws") as ws:
        for name, mapping in order:
            ws.ingest(SAMPLES / name, mapping=mapping)
        rows = ws.sql(
            "SELECT entity_id, prop, value, evidence_sha256 || ':' || source_row FROM statements"
        ).to_pylist()
    return {tuple(r.values()) for r in rows}  # type: ignore[misc]


BASELINE = None


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(SOURCES))
def test_ingest_order_does_not_change_entities(order: list[tuple[str, str]]) -> None:
    global BASELINE
    if BASELINE is None:
        BASELINE = _entities(SOURCES)
    assert _entities(list(order)) == BASELINE
