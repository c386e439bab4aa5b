"""Malformed sources: each gives a clear error (nothing stored) or a quarantine row (the good rows
still land, with their spreadsheet row numbers). Nothing crashes, nothing is lost."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from conftest import (
    IBAN_DE,
    IBAN_GB,
    IBAN_GB2,
    IBAN_NL,
    PAYMENTS_FULL_HEADER,
    SAMPLES,
    payment,
    write_table,
)
from palermo.errors import SourceError
from palermo.store.loader import RAW_LIMIT


def raw_line(row: dict[str, str], extra: list[str] | None = None) -> str:
    """A payments record as one unquoted CSV line (values must hold no comma or quote)."""
    return ",".join([row.get(c, "") for c in PAYMENTS_FULL_HEADER] + (extra or []))


@pytest.fixture
def seeded(ws, write_payments):
    """A workspace that already holds one good file, so 'unchanged' is not trivially empty."""
    ws.ingest(write_payments([payment(100)], name="seed.csv"), mapping="payments")
    return ws


def stored_ids(ws) -> list[str]:
    rows = ws.sql("SELECT source_id FROM payments ORDER BY source_row").to_pylist()
    return [r["source_id"] for r in rows]


def source_row(ws, tx: str) -> int:
    [row] = ws.sql("SELECT source_row FROM payments WHERE source_id = ?", [tx]).to_pylist()
    return row["source_row"]


# -- whole-file errors: SourceError naming the file, workspace unchanged ------------------------
def test_wrong_explicit_delimiter_reports_missing_columns(seeded, write_payments, snapshot):
    path = write_payments([payment(1)], name="commas.csv")
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"commas\.csv.*missing column") as exc:
        seeded.ingest(path, mapping="payments", delimiter="|")
    assert "delimiter" in str(exc.value)
    assert snapshot(seeded) == before


def test_latin1_file_asks_for_encoding(seeded, write_payments, snapshot):
    path = write_payments(
        [payment(1, from_name="José Müller")], name="latin.csv", encoding="latin-1"
    )
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"latin\.csv.*not UTF-8.*--encoding"):
        seeded.ingest(path, mapping="payments")
    assert snapshot(seeded) == before


def test_latin1_file_ingests_with_its_encoding(ws, write_payments):
    path = write_payments([payment(1, from_name="José Müller")], encoding="latin-1")
    [report] = ws.ingest(path, mapping="payments", encoding="latin-1")
    assert (report.rows_stored, report.rows_quarantined) == (1, 0)
    names = ws.sql(
        "SELECT value, original FROM statements WHERE prop = 'name' AND value LIKE 'Jos%'"
    ).to_pylist()
    assert names == [{"value": "José Müller", "original": "José Müller"}]


def test_missing_required_columns_are_named(seeded, write_payments, snapshot):
    header = [c for c in PAYMENTS_FULL_HEADER if c not in ("amount", "currency")]
    path = write_payments([payment(1)], name="short.csv", header=header)
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"short\.csv.*missing column\(s\) amount, currency"):
        seeded.ingest(path, mapping="payments")
    assert snapshot(seeded) == before


def test_truncated_goaml_xml_is_refused(seeded, tmp_path, snapshot):
    data = (SAMPLES / "goaml_report.xml").read_bytes()
    path = tmp_path / "truncated.xml"
    path.write_bytes(data[: len(data) * 2 // 3])
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"truncated\.xml.*malformed XML"):
        seeded.ingest(path, mapping="goaml")
    assert snapshot(seeded) == before


def test_binary_file_is_refused(seeded, tmp_path, snapshot):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"image\.csv.*binary"):
        seeded.ingest(path, mapping="payments")
    assert snapshot(seeded) == before


def test_empty_file_is_refused(seeded, tmp_path, snapshot):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"empty\.csv.*empty"):
        seeded.ingest(path, mapping="payments")
    assert snapshot(seeded) == before


def test_header_only_file_stores_nothing(ws, write_payments):
    [report] = ws.ingest(write_payments([]), mapping="payments")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (0, 0, 0)


# -- bad values: quarantined with field and row, good rows land ---------------------------------
@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"timestamp": "2024-02-30T10:00:00Z"}, "timestamp", "not a valid date"),
        ({"amount": "-12.00"}, "amount", "negative amount"),
        ({"amount": "twelve"}, "amount", "not an amount"),
        ({"from_account": "GB82WEST12345698765431"}, "from_account", "invalid IBAN"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"transaction_id": ""}, "transaction_id", "required value is missing"),
    ],
    ids=["impossible-date", "negative-amount", "text-amount", "bad-iban", "currency", "no-id"],
)
def test_bad_value_is_quarantined_and_good_rows_land(ws, write_payments, overrides, field, reason):
    path = write_payments([payment(1), payment(2, **overrides), payment(3)])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (3, 2, 1)
    [q] = ws.quarantine()
    assert q["row"] == 3
    assert q["field"] == field
    assert reason in q["reason"]
    assert q["file"] == "payments.csv"
    assert q["status"] == "open"
    assert q["errors"][0]["field"] == field
    assert "TX2" in q["raw"] or field == "transaction_id"
    assert stored_ids(ws) == ["TX1", "TX3"]
    assert source_row(ws, "TX3") == 4


def test_every_failing_field_of_a_row_is_listed(ws, write_payments):
    path = write_payments([payment(1, amount="-1", timestamp="2024-13-01T00:00:00Z")])
    ws.ingest(path, mapping="payments")
    [q] = ws.quarantine()
    assert {e["field"] for e in q["errors"]} == {"timestamp", "amount"}


def test_invalid_phone_in_calls_is_quarantined(ws, tmp_path):
    header = ["caller", "callee", "start_time", "duration_s", "caller_cell", "callee_cell"]
    good = {"callee": "+447991235248", "start_time": "2024-01-05T16:03:41Z", "duration_s": "60"}
    path = write_table(
        tmp_path / "calls.csv",
        header,
        [
            {**good, "caller": "+40 754 104 194"},
            {**good, "caller": "12"},
            {**good, "caller": "not a phone"},
            {**good, "caller": "0121 496 0000"},
        ],
    )
    [report] = ws.ingest(path, mapping="calls")
    assert (report.rows_stored, report.rows_quarantined) == (2, 2)
    quarantined = [(q["row"], q["field"]) for q in ws.quarantine()]
    assert quarantined == [(3, "caller"), (4, "caller")]
    rows = ws.sql("SELECT caller, source_row FROM calls ORDER BY source_row").to_pylist()
    assert rows == [
        {"caller": "+40754104194", "source_row": 2},
        {"caller": "+441214960000", "source_row": 5},
    ]


# -- records the CSV reader cannot split -------------------------------------------------------
def test_row_with_too_many_fields_keeps_row_numbers(ws, write_payments):
    path = write_payments(
        [payment(1), raw_line(payment(2), extra=["EXTRA"]), payment(3), payment(4)]
    )
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (4, 3, 1)
    [q] = ws.quarantine()
    assert q["row"] == 3
    assert "too many fields" in q["reason"]
    assert "EXTRA" in q["raw"]
    assert source_row(ws, "TX3") == 4
    assert source_row(ws, "TX4") == 5


def test_row_with_too_few_fields_is_quarantined(ws, write_payments):
    path = write_payments([payment(1), "TX2,2024-01-03T10:00:00Z", payment(3)])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (2, 1)
    [q] = ws.quarantine()
    assert q["row"] == 3
    assert "too few fields" in q["reason"]
    assert source_row(ws, "TX3") == 4


def test_multiline_field_then_bad_value_row_numbers(ws, write_payments):
    path = write_payments(
        [
            payment(1, reference="first line\nsecond line"),
            payment(2, amount="oops"),
            payment(3),
        ]
    )
    ws.ingest(path, mapping="payments")
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (3, "amount")
    assert source_row(ws, "TX1") == 2
    assert source_row(ws, "TX3") == 4


def test_multiline_field_then_unsplittable_row_numbers(ws, write_payments):
    """Spreadsheet rows count records, not lines: a quoted newline must not shift them."""
    path = write_payments(
        [
            payment(1, reference="first line\nsecond line"),
            raw_line(payment(2), extra=["EXTRA"]),
            payment(3),
        ]
    )
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (2, 1)
    [q] = ws.quarantine()
    assert q["row"] == 3
    assert source_row(ws, "TX1") == 2
    assert source_row(ws, "TX3") == 4


def test_long_field_under_the_line_limit_is_quarantined_by_the_text_limit(ws, tmp_path):
    path = tmp_path / "long.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(PAYMENTS_FULL_HEADER) + "\n")
        fh.write(raw_line(payment(1, reference="A" * (2 * 1024 * 1024))) + "\n")
        fh.write(raw_line(payment(2)) + "\n")
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (2, "reference")
    assert "over the limit" in q["reason"]
    assert 0 < len(q["raw"]) <= RAW_LIMIT


def test_huge_single_field_is_quarantined_and_truncated(ws, tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(PAYMENTS_FULL_HEADER) + "\n")
        fh.write(raw_line(payment(1)) + "\n")
        fh.write(raw_line(payment(2, reference="A" * (50 * 1024 * 1024))) + "\n")
        fh.write(raw_line(payment(3)) + "\n")
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (3, 2, 1)
    [q] = ws.quarantine()
    # a record over the reader's 8 MiB line limit is rejected whole, never held in memory
    assert q["row"] == 3
    assert "longer than" in q["reason"]
    assert 0 < len(q["raw"]) <= RAW_LIMIT
    assert stored_ids(ws) == ["TX1", "TX3"]


FORMULA = "=cmd|' /C calc'!A0"


def test_formula_injection_in_reference_is_quarantined(ws, write_payments):
    path = write_payments([payment(1, reference=FORMULA), payment(2)])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (2, "reference")
    assert "formula" in q["reason"]
    assert stored_ids(ws) == ["TX2"]


def test_formula_injection_in_name_is_quarantined(ws, write_payments):
    path = write_payments([payment(1, from_name=FORMULA), payment(2)])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (2, "from_name")
    assert "formula" in q["reason"]


# -- FollowTheMoney lines -----------------------------------------------------------------------
def test_ftm_bad_lines_are_quarantined_and_good_ones_stored(ws, tmp_path):
    good = {"id": "p1", "schema": "Person", "properties": {"name": ["Olena Kovalenko"]}}
    good2 = {"id": "c1", "schema": "Company", "properties": {"name": ["Danuvia Invest Ltd"]}}
    lines = [
        json.dumps(good),
        '{"id": "broken", "schema": "Person", "properties": {',
        json.dumps({"id": "x1", "schema": "Spaceship", "properties": {}}),
        json.dumps({"id": "x2", "schema": "Person", "properties": {"wingspan": ["3m"]}}),
        json.dumps(good2),
    ]
    path = tmp_path / "entities.ftm.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [report] = ws.ingest(path, mapping="ftm")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (5, 2, 3)
    quarantined = {q["row"]: q for q in ws.quarantine()}
    assert sorted(quarantined) == [2, 3, 4]
    assert "invalid JSON" in quarantined[2]["reason"]
    assert quarantined[3]["field"] == "schema"
    assert "Spaceship" in quarantined[3]["reason"]
    assert quarantined[4]["field"] == "wingspan"
    stored = ws.sql(
        "SELECT entity_id, source_row FROM statements WHERE prop = 'id' ORDER BY source_row"
    ).to_pylist()
    assert stored == [{"entity_id": "p1", "source_row": 1}, {"entity_id": "c1", "source_row": 5}]


def test_ftm_binary_file_is_refused(seeded, tmp_path, snapshot):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(b"\x00\x01\x02garbage\x00")
    before = snapshot(seeded)
    with pytest.raises(SourceError, match=r"blob\.jsonl.*binary"):
        seeded.ingest(path, mapping="ftm")
    assert snapshot(seeded) == before


# -- the accounts used above are valid: a sanity check of the fixtures --------------------------
def test_all_fixture_ibans_are_accepted(ws, write_payments):
    path = write_payments(
        [payment(1, from_account=IBAN_GB2, to_account=IBAN_NL), payment(2)],
    )
    [report] = ws.ingest(path, mapping="payments")
    assert report.rows_quarantined == 0
    accounts = ws.sql("SELECT payer_account, payee_account FROM payments ORDER BY source_row")
    assert accounts.to_pylist() == [
        {"payer_account": IBAN_GB2, "payee_account": IBAN_NL},
        {"payer_account": IBAN_GB, "payee_account": IBAN_DE},
    ]


def test_crlf_and_bom_file_keeps_row_numbers(ws, tmp_path):
    lines = [
        "\ufeff" + ",".join(PAYMENTS_FULL_HEADER),
        raw_line(payment(1)),
        raw_line(payment(2), extra=["EXTRA"]),
        raw_line(payment(3, amount="x")),
        raw_line(payment(4)),
    ]
    path = tmp_path / "windows.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (4, 2, 2)
    assert sorted(q["row"] for q in ws.quarantine()) == [3, 4]
    assert source_row(ws, "TX1") == 2
    assert source_row(ws, "TX4") == 5


def test_values_are_trimmed_and_blank_is_missing(ws, write_payments):
    padded = payment(
        1, transaction_id="  TX1 ", amount=" 101.00", currency="GBP  ", reference=" x "
    )
    blank = payment(2, amount="   ")
    [report] = ws.ingest(write_payments([padded, blank]), mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    [row] = ws.sql("SELECT source_id, amount, currency, reference FROM payments").to_pylist()
    assert row == {
        "source_id": "TX1",
        "amount": Decimal("101.0000"),
        "currency": "GBP",
        "reference": "x",
    }
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (3, "amount")
    assert "required value is missing" in q["reason"]


def test_a_quarantined_row_gives_no_entity_or_statement(ws, write_payments):
    bad = payment(2, amount="12,34,5", to_name="Only In A Bad Row", to_account=IBAN_NL)
    [report] = ws.ingest(write_payments([payment(1), bad, payment(3)]), mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (2, 1)
    values = set(ws.sql("SELECT value FROM statements").column("value").to_pylist())
    assert "Only In A Bad Row" not in values
    assert IBAN_NL not in values
    # the good rows' entities are all there, with the first good row as their source
    rows = ws.sql(
        "SELECT DISTINCT source_row FROM statements WHERE prop = 'iban' ORDER BY 1"
    ).column("source_row")
    assert rows.to_pylist() == [2]
