"""The small test sources in tests/data (see tests/data/make_data.py): every built-in mapping
ingests its own file, with no quarantine, and the values come out normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"

SOURCES = [
    ("payments.csv", "payments", {"payments": 3}),
    ("calls.csv", "calls", {"calls": 2}),
    ("companies.csv", "companies", {}),
    ("persons.csv", "persons", {}),
    ("persons.xlsx", "persons", {}),
    ("entities.ftm.jsonl", "ftm", {}),
    ("goaml.xml", "goaml", {"payments": 1}),
    ("travel.csv", "travel", {}),
    ("employment.csv", "employment", {}),
    ("land.csv", "land", {}),
    ("ads.csv", "ads", {}),
    ("notes.csv", "notes", {}),
]


@pytest.mark.parametrize(("name", "mapping", "events"), SOURCES)
def test_each_mapping_ingests_its_test_source(ws, name, mapping, events):
    [report] = ws.ingest(DATA / name, mapping=mapping)
    assert report.rows_quarantined == 0, ws.quarantine()
    assert report.rows_stored == report.rows_read > 0
    # call records name numbers (event columns), not entities
    assert (report.statements > 0) == (mapping != "calls")
    for kind, count in events.items():
        assert report.events[kind] == count


def test_test_sources_come_out_normalised(ws):
    for name, mapping, _ in SOURCES:
        ws.ingest(DATA / name, mapping=mapping)
    names = ws.sql(
        "SELECT value, translit FROM statements WHERE value = 'Олена Коваль' LIMIT 1"
    ).to_pylist()
    # anyascii writes the soft sign as an apostrophe
    assert names and names[0]["translit"].lower().startswith("olena koval")
    calls = ws.sql("SELECT caller, callee, started_at FROM calls ORDER BY started_at").to_pylist()
    assert [c["caller"] for c in calls] == ["+380441234567", "+31205550101"]
    amounts = ws.sql(
        "SELECT source_id, amount, occurred_at FROM payments WHERE source_id LIKE 'T-%'"
        " ORDER BY source_id"
    ).to_pylist()
    assert [str(a["amount"]) for a in amounts] == ["1250.0000", "310.5000", "9800.0000"]
    # an explicit +02:00 offset is kept: 18:00 there is 16:00 UTC
    assert amounts[2]["occurred_at"].hour == 16
    ibans = ws.sql("SELECT DISTINCT value FROM statements WHERE prop = 'iban'").column(0)
    assert "RO49AAAA1B31007593840000" in ibans.to_pylist()
