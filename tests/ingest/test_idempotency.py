"""Re-ingesting is a no-op; a transaction seen again is counted as a duplicate, not stored twice;
the same id with other content is a conflict for the quarantine."""

from __future__ import annotations

from conftest import payment


def payment_count(ws, tx: str) -> int:
    return ws.sql("SELECT count(*) AS n FROM payments WHERE source_id = ?", [tx]).to_pylist()[0][
        "n"
    ]


def test_reingesting_the_same_file_is_a_noop(ws, write_payments, snapshot):
    path = write_payments([payment(1), payment(2)])
    [first] = ws.ingest(path, mapping="payments", compartment="c1")
    before = snapshot(ws)
    [again] = ws.ingest(path, mapping="payments", compartment="c1")
    assert again.already_ingested is True
    assert again.run_id == first.run_id
    assert again.sha256 == first.sha256
    assert (again.rows_read, again.rows_stored, again.statements) == (0, 0, 0)
    assert snapshot(ws) == before


def test_same_file_under_another_name_is_a_noop(ws, write_payments):
    rows = [payment(1), payment(2)]
    [first] = ws.ingest(write_payments(rows, name="a.csv"), mapping="payments")
    [again] = ws.ingest(write_payments(rows, name="copy-of-a.csv"), mapping="payments")
    assert again.already_ingested is True
    assert again.run_id == first.run_id
    assert ws.status()["totals"]["payments"] == 2


def test_same_transaction_in_another_file_counts_as_duplicate(ws, write_payments):
    ws.ingest(write_payments([payment(1), payment(2)], name="jan.csv"), mapping="payments")
    totals = ws.status()["totals"]
    [report] = ws.ingest(
        write_payments([payment(2), payment(3)], name="feb.csv"), mapping="payments"
    )
    assert report.already_ingested is False
    assert (report.rows_read, report.rows_stored, report.rows_duplicate) == (2, 1, 1)
    assert report.rows_quarantined == 0
    assert ws.quarantine() == []
    assert payment_count(ws, "TX2") == 1
    assert ws.status()["totals"]["payments"] == totals["payments"] + 1


def test_duplicate_keeps_provenance_of_first_file(ws, write_payments):
    [jan] = ws.ingest(write_payments([payment(1)], name="jan.csv"), mapping="payments")
    ws.ingest(write_payments([payment(9), payment(1)], name="feb.csv"), mapping="payments")
    rows = ws.sql(
        "SELECT evidence_sha256, source_row FROM payments WHERE source_id = 'TX1'"
    ).to_pylist()
    assert rows == [{"evidence_sha256": jan.sha256, "source_row": 2}]


def test_same_id_with_other_amount_is_a_conflict(ws, write_payments):
    [jan] = ws.ingest(write_payments([payment(1)], name="jan.csv"), mapping="payments")
    [feb] = ws.ingest(
        write_payments([payment(1, amount="999.99"), payment(2)], name="feb.csv"),
        mapping="payments",
    )
    assert (feb.rows_stored, feb.rows_duplicate, feb.rows_quarantined) == (1, 0, 1)
    [q] = ws.quarantine()
    assert (q["file"], q["row"], q["field"]) == ("feb.csv", 2, "id")
    assert "conflicts" in q["reason"]
    assert jan.sha256[:12] in q["reason"]
    amounts = ws.sql(
        "SELECT CAST(amount AS VARCHAR) AS a FROM payments WHERE source_id = 'TX1'"
    ).to_pylist()
    assert amounts == [{"a": "101.0000"}]


def test_duplicate_id_inside_one_file_quarantines_the_second(ws, write_payments):
    path = write_payments([payment(1), payment(2), payment(1, amount="5.00")])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (3, 2, 1)
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (4, "id")
    assert "row 2" in q["reason"]
    assert payment_count(ws, "TX1") == 1


def test_identical_duplicate_row_inside_one_file_quarantines_the_second(ws, write_payments):
    path = write_payments([payment(1), payment(1)])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    assert payment_count(ws, "TX1") == 1


def test_same_file_in_another_compartment_is_ingested_again(ws, write_payments):
    path = write_payments([payment(1)])
    ws.ingest(path, mapping="payments", compartment="c1")
    [other] = ws.ingest(path, mapping="payments", compartment="c2")
    assert other.already_ingested is False
    assert other.rows_stored == 1
    rows = ws.sql("SELECT compartment FROM payments ORDER BY compartment").to_pylist()
    assert rows == [{"compartment": "c1"}, {"compartment": "c2"}]


def test_statements_are_not_duplicated_by_a_duplicate_row(ws, write_payments):
    ws.ingest(write_payments([payment(1)], name="jan.csv"), mapping="payments")
    n = ws.status()["totals"]["entities"]
    ws.ingest(write_payments([payment(1)], name="feb.csv", delimiter=";"), mapping="payments")
    assert ws.status()["totals"]["entities"] == n
    assert payment_count(ws, "TX1") == 1
