"""Every built-in mapping reads its sample; values keep their provenance and normalised facets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import (
    IBAN_DE,
    IBAN_GB,
    PAYMENTS_FULL_HEADER,
    PAYMENTS_HEADER,
    PERSONS_HEADER,
    SAMPLES,
    payment,
    write_table,
)

SAMPLE_PLAN = [
    # file, mapping, rows, events
    ("payments.csv", "payments", 321, {"payments": 321}),
    ("calls.csv", "calls", 220, {"calls": 220}),
    ("companies.csv", "companies", 29, {}),
    ("persons.csv", "persons", 24, {}),
    ("persons.xlsx", "persons", 15, {}),
    ("entities.ftm.jsonl", "ftm", 24, {"payments": 5}),
    ("goaml_report.xml", "goaml", 9, {"payments": 9}),
]


@pytest.mark.parametrize(("name", "mapping", "rows", "events"), SAMPLE_PLAN)
def test_sample_ingests_without_quarantine(ws, name, mapping, rows, events):
    [report] = ws.ingest(SAMPLES / name, mapping=mapping, compartment="c1")
    assert report.rows_quarantined == 0
    assert ws.quarantine() == []
    assert report.rows_read == rows
    assert report.rows_stored == rows
    assert report.rows_duplicate == 0
    assert report.events == events
    assert report.statements > 0 or mapping == "calls"
    assert report.already_ingested is False


@pytest.mark.parametrize(("name", "mapping", "rows", "events"), SAMPLE_PLAN)
def test_sample_values_carry_provenance(ws, name, mapping, rows, events):
    """Every statement and every event row names its evidence file, row, run and compartment."""
    [report] = ws.ingest(SAMPLES / name, mapping=mapping, compartment="c1")
    for table in events:
        bad = ws.sql(
            f"SELECT count(*) AS n FROM {table} WHERE evidence_sha256 IS DISTINCT FROM ?"
            " OR run_id IS DISTINCT FROM ? OR compartment IS DISTINCT FROM 'c1'"
            " OR source_row IS NULL",
            [report.sha256, report.run_id],
        ).to_pylist()
        assert bad == [{"n": 0}], table
    stmts = ws.sql(
        "SELECT evidence_sha256, source_row, run_id, compartment FROM statements"
    ).to_pylist()
    if mapping == "calls":  # calls make events only
        assert stmts == []
        return
    assert stmts
    first_row = 1 if mapping in ("ftm", "goaml") else 2
    for s in stmts:
        assert s["evidence_sha256"] == report.sha256
        assert s["run_id"] == report.run_id
        assert s["compartment"] == "c1"
        assert s["source_row"] is not None and s["source_row"] >= first_row


def test_payments_sample_rows_are_spreadsheet_rows(ws):
    ws.ingest(SAMPLES / "payments.csv", mapping="payments", compartment="c1")
    rows = ws.sql(
        "SELECT source_id, source_row FROM payments WHERE source_id IN ('TX24-00001', 'TX24-00002')"
        " ORDER BY source_id"
    ).to_pylist()
    assert rows == [
        {"source_id": "TX24-00001", "source_row": 2},
        {"source_id": "TX24-00002", "source_row": 3},
    ]


def _names(ws, value_like: str) -> list[dict]:
    return ws.sql(
        "SELECT value, original, normalised, translit FROM statements"
        " WHERE prop = 'name' AND original LIKE ?",
        [value_like],
    ).to_pylist()


def test_cyrillic_name_keeps_written_form_and_gets_latin_translit(ws, tmp_path):
    path = write_table(
        tmp_path / "persons.csv",
        PERSONS_HEADER,
        [{"id": "P1", "full_name": "Олена Коваленко"}],
    )
    ws.ingest(path, mapping="persons")
    [name] = _names(ws, "Олена%")
    assert name["value"] == "Олена Коваленко"
    assert name["original"] == "Олена Коваленко"
    assert name["normalised"] == "олена коваленко"
    assert name["translit"] == "olena kovalenko"


def test_latin_name_keeps_diacritics_and_translit_drops_them(ws, tmp_path):
    path = write_table(
        tmp_path / "persons.csv", PERSONS_HEADER, [{"id": "P1", "full_name": "Ionuț Popescu"}]
    )
    ws.ingest(path, mapping="persons")
    [name] = _names(ws, "Ionu%")
    assert name["value"] == "Ionuț Popescu"
    assert name["original"] == "Ionuț Popescu"
    assert name["translit"] == "ionut popescu"


def test_calls_sample_numbers_are_e164(ws):
    ws.ingest(SAMPLES / "calls.csv", mapping="calls")
    numbers = ws.sql("SELECT caller AS n FROM calls UNION SELECT callee FROM calls").to_pylist()
    assert numbers
    for row in numbers:
        assert re.fullmatch(r"\+[1-9]\d{6,14}", row["n"]), row


def test_phone_formats_are_normalised_to_e164(ws, tmp_path):
    path = write_table(
        tmp_path / "calls.csv",
        ["caller", "callee", "start_time", "duration_s"],
        [
            {
                "caller": "0040 754 104 194",
                "callee": "0121 496 0000",
                "start_time": "2024-01-05T16:03:41Z",
                "duration_s": "30",
            }
        ],
    )
    ws.ingest(path, mapping="calls")
    rows = ws.sql("SELECT caller, callee, source_row FROM calls").to_pylist()
    assert rows == [{"caller": "+40754104194", "callee": "+441214960000", "source_row": 2}]


def test_account_gets_iban_and_country_facets(ws, write_payments):
    path = write_payments([payment(1, from_account="gb82 west 1234 5698 7654 32")])
    ws.ingest(path, mapping="payments")
    props = ws.sql(
        "SELECT prop, value, original FROM statements WHERE schema = 'BankAccount'"
        " AND prop IN ('iban', 'accountNumber', 'country') AND entity_id IN (SELECT entity_id"
        " FROM statements WHERE prop = 'iban' AND value = ?) ORDER BY prop",
        [IBAN_GB],
    ).to_pylist()
    assert props == [
        {"prop": "accountNumber", "value": IBAN_GB, "original": "gb82 west 1234 5698 7654 32"},
        {"prop": "country", "value": "GB", "original": None},
        {"prop": "iban", "value": IBAN_GB, "original": None},
    ]
    accounts = ws.sql("SELECT payer_account, payee_account FROM payments").to_pylist()
    assert accounts == [{"payer_account": IBAN_GB, "payee_account": IBAN_DE}]


def test_columns_override_reads_field_from_other_column(ws, tmp_path):
    header = [("betrag" if c == "amount" else c) for c in PAYMENTS_FULL_HEADER]
    row = payment(1, betrag="42.50")
    path = write_table(tmp_path / "bank.csv", header, [row])
    [report] = ws.ingest(path, mapping="payments", columns="amount=betrag")
    assert report.rows_stored == 1
    assert ws.sql("SELECT CAST(amount AS VARCHAR) AS a FROM payments").to_pylist() == [
        {"a": "42.5000"}
    ]


def test_minimal_payments_header_ingests(ws, write_payments):
    """The columns the issue names (no from_country/to_country/...) are enough."""
    path = write_payments([payment(1), payment(2)], header=PAYMENTS_HEADER)
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (2, 0)


def test_persons_with_first_and_last_name_columns_filled(ws, tmp_path):
    """Every persons column present, the name given as first + last only."""
    path = write_table(
        tmp_path / "persons.csv",
        PERSONS_HEADER,
        [{"id": "P1", "first_name": "Mihai", "last_name": "Dumitrescu"}],
    )
    [report] = ws.ingest(path, mapping="persons")
    assert report.rows_stored == 1
    names = ws.sql("SELECT value FROM statements WHERE prop = 'name'").to_pylist()
    assert names == [{"value": "Mihai Dumitrescu"}]


def test_semicolon_delimiter_is_sniffed(ws, write_payments):
    path = write_payments([payment(1), payment(2)], delimiter=";")
    [report] = ws.ingest(path, mapping="payments")
    assert report.rows_stored == 2
    assert report.rows_quarantined == 0
    assert report.details["delimiter"] == ";"


def test_persons_with_first_and_last_name_only(ws, tmp_path):
    path = write_table(
        tmp_path / "persons.csv",
        ["id", "first_name", "last_name"],
        [{"id": "P1", "first_name": "Mihai", "last_name": "Dumitrescu"}],
    )
    [report] = ws.ingest(path, mapping="persons")
    assert report.rows_stored == 1
    props = ws.sql(
        "SELECT prop, value FROM statements WHERE prop IN ('name', 'firstName', 'lastName')"
        " ORDER BY prop"
    ).to_pylist()
    assert props == [
        {"prop": "firstName", "value": "Mihai"},
        {"prop": "lastName", "value": "Dumitrescu"},
        {"prop": "name", "value": "Mihai Dumitrescu"},
    ]


def test_persons_row_without_any_name_is_quarantined(ws, tmp_path):
    path = write_table(
        tmp_path / "persons.csv",
        PERSONS_HEADER,
        [{"id": "P1", "full_name": "Ana Pop"}, {"id": "P2", "first_name": "Ion"}],
    )
    [report] = ws.ingest(path, mapping="persons")
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    [q] = ws.quarantine()
    assert q["row"] == 3
    assert "needs" in q["reason"]


CUSTOM_MAPPING = """\
name: suspects
format: csv
fields:
  ref:  {type: identifier, required: true, column: Reference}
  who:  {type: name, required: true, column: Name}
  born: {type: date, column: DOB}
entities:
  suspect:
    kind: Person
    key: [ref]
    properties:
      name: who
      birthDate: born
"""


def test_custom_yaml_mapping_by_path(ws, tmp_path: Path):
    mapping = tmp_path / "suspects.yml"
    mapping.write_text(CUSTOM_MAPPING, encoding="utf-8")
    path = write_table(
        tmp_path / "suspects.csv",
        ["Reference", "Name", "DOB"],
        [{"Reference": "S-1", "Name": "Darren Holt", "DOB": "08.10.1971"}],
    )
    [report] = ws.ingest(path, mapping=str(mapping), compartment="c1")
    assert report.mapping == "suspects"
    assert (report.rows_stored, report.rows_quarantined) == (1, 0)
    props = ws.sql(
        "SELECT schema, prop, value, source_row FROM statements WHERE prop <> 'id' ORDER BY prop"
    ).to_pylist()
    assert props == [
        {"schema": "Person", "prop": "birthDate", "value": "1971-10-08", "source_row": 2},
        {"schema": "Person", "prop": "name", "value": "Darren Holt", "source_row": 2},
    ]
    runs = ws.status()["sources"]
    assert [s["mapping"] for s in runs] == ["suspects"]


def test_default_fills_a_missing_column(ws, tmp_path):
    # an export with another layout and no currency column at all (AMLSim-like)
    path = tmp_path / "tx.csv"
    path.write_text(
        "TX_ID,SENDER_ACCOUNT_ID,RECEIVER_ACCOUNT_ID,TX_AMOUNT,TIMESTAMP\n"
        "1,1001,1002,250.00,2024-01-02 10:00:00\n"
        "2,1002,1003,,2024-01-02 11:00:00\n",
        encoding="utf-8",
    )
    [report] = ws.ingest(
        path,
        mapping="payments",
        columns="transaction_id=TX_ID,from_account=SENDER_ACCOUNT_ID,"
        "to_account=RECEIVER_ACCOUNT_ID,amount=TX_AMOUNT,timestamp=TIMESTAMP",
        defaults="currency=EUR",
    )
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    row = ws.sql("SELECT currency, amount_eur, payer_account FROM payments").to_pylist()
    assert row == [{"currency": "EUR", "amount_eur": 250, "payer_account": "1001"}]
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (3, "amount")


def test_timezone_option_reads_local_times(ws, write_payments, tmp_path):
    from dataclasses import replace

    from palermo.ingest.mapping import load_mapping

    path = write_payments(
        [
            payment(1, timestamp="2024-07-01 12:00:00"),
            payment(2, timestamp="2024-07-01T12:00:00+00:00"),
        ]
    )
    base = load_mapping("payments")
    mapping = replace(base, options={**base.options, "timezone": "Europe/Bucharest"})
    ws.ingest(path, mapping=mapping)
    times = ws.sql(
        "SELECT source_id, strftime(occurred_at, '%H:%M') AS t FROM payments ORDER BY source_id"
    ).to_pylist()
    # summer time in Bucharest is UTC+3; an explicit offset is kept
    assert [r["t"] for r in times] == ["09:00", "12:00"]


def test_unknown_timezone_is_a_mapping_error(ws, write_payments):
    from dataclasses import replace

    from palermo.errors import MappingError
    from palermo.ingest.mapping import load_mapping

    base = load_mapping("payments")
    mapping = replace(base, options={**base.options, "timezone": "Mars/Olympus"})
    with pytest.raises(MappingError, match="time zone"):
        ws.ingest(write_payments([payment(1)]), mapping=mapping)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("payer_key", "from_account", "an entity key column takes an entity"),
        ("payer_account", {"entity": "payer_account"}, "takes a value, not an entity"),
    ],
)
def test_event_entity_columns_take_entities_only(column, value, message):
    from importlib import resources

    import yaml

    from palermo.errors import MappingError
    from palermo.ingest.mapping import parse_mapping

    text = (resources.files("palermo.ingest") / "mappings" / "payments.yml").read_text()
    data = yaml.safe_load(text)
    data["events"]["payments"][column] = value
    with pytest.raises(MappingError, match=message):
        parse_mapping(data, "test")
