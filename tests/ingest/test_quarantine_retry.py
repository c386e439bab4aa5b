"""Quarantined rows are retried from the evidence copy after a mapping fix, keeping their rows."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import MAPPINGS, payment
from palermo.cli import main


def fixed_payments_mapping(tmp_path):
    """The built-in payments mapping, copied, with decimal commas switched on."""
    data = yaml.safe_load((MAPPINGS / "payments.yml").read_text(encoding="utf-8"))
    data["options"] = {**(data.get("options") or {}), "decimal_comma": True}
    path = tmp_path / "payments-decimal-comma.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def amounts(ws) -> list[dict]:
    return ws.sql(
        "SELECT source_id, CAST(amount AS VARCHAR) AS amount, source_row FROM payments"
        " ORDER BY source_row"
    ).to_pylist()


def test_decimal_comma_amount_is_quarantined(ws, write_payments):
    path = write_payments([payment(1, amount="1.234,50")])
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (0, 1)
    [q] = ws.quarantine()
    assert (q["row"], q["field"]) == (2, "amount")


@pytest.fixture
def quarantined(ws, write_payments):
    """A file whose rows 3 and 4 use decimal commas with thousands dots and are quarantined."""
    path = write_payments(
        [
            payment(1, amount="10.00"),
            payment(2, amount="1.234.567,50"),
            payment(3, amount="2.345.678,00"),
            payment(4, amount="20.00"),
        ]
    )
    [report] = ws.ingest(path, mapping="payments")
    assert (report.rows_stored, report.rows_quarantined) == (2, 2)
    assert [(q["row"], q["field"]) for q in ws.quarantine()] == [(3, "amount"), (4, "amount")]
    return report


def test_retry_with_fixed_mapping_lands_rows_with_original_row_numbers(ws, quarantined, tmp_path):
    [retry] = ws.retry_quarantine(mapping=str(fixed_payments_mapping(tmp_path)))
    assert (retry.rows_read, retry.rows_stored, retry.rows_quarantined) == (2, 2, 0)
    assert retry.sha256 == quarantined.sha256
    assert amounts(ws) == [
        {"source_id": "TX1", "amount": "10.0000", "source_row": 2},
        {"source_id": "TX2", "amount": "1234567.5000", "source_row": 3},
        {"source_id": "TX3", "amount": "2345678.0000", "source_row": 4},
        {"source_id": "TX4", "amount": "20.0000", "source_row": 5},
    ]
    landed = ws.sql(
        "SELECT DISTINCT evidence_sha256, run_id FROM payments WHERE source_row IN (3, 4)"
    ).to_pylist()
    assert landed == [{"evidence_sha256": quarantined.sha256, "run_id": retry.run_id}]


def test_retry_closes_the_quarantine_rows(ws, quarantined, tmp_path):
    [retry] = ws.retry_quarantine(mapping=str(fixed_payments_mapping(tmp_path)))
    assert ws.quarantine() == []
    closed = ws.quarantine(status=None)
    assert [(q["row"], q["status"], q["closed_by_run"]) for q in closed] == [
        (3, "resolved", retry.run_id),
        (4, "resolved", retry.run_id),
    ]
    assert ws.status()["totals"]["quarantine_open"] == 0


def test_retry_without_a_fix_keeps_rows_quarantined(ws, quarantined):
    [retry] = ws.retry_quarantine()
    assert (retry.rows_read, retry.rows_stored, retry.rows_quarantined) == (2, 0, 2)
    open_rows = ws.quarantine()
    assert [(q["row"], q["run_id"]) for q in open_rows] == [(3, retry.run_id), (4, retry.run_id)]
    assert {
        q["status"] for q in ws.quarantine(status=None) if q["run_id"] == quarantined.run_id
    } == {"superseded"}
    assert ws.status()["totals"]["payments"] == 2


def test_retry_with_empty_quarantine_does_nothing(ws, write_payments):
    ws.ingest(write_payments([payment(1)]), mapping="payments")
    assert ws.retry_quarantine() == []


def test_cli_quarantine_list_json(ws, quarantined, capsys):
    path = ws.path
    ws.close()
    capsys.readouterr()
    assert main(["quarantine", "list", "--json", "-w", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    for row in rows:
        assert {"file", "row", "field", "reason", "raw"} <= set(row)
        assert row["file"] == "payments.csv"
        assert row["field"] == "amount"
    assert [r["row"] for r in rows] == [3, 4]
    assert "1.234.567,50" in rows[0]["raw"]


def test_cli_quarantine_retry_with_mapping_file(ws, quarantined, tmp_path, capsys):
    path = ws.path
    ws.close()
    mapping = fixed_payments_mapping(tmp_path)
    assert main(["quarantine", "retry", "--mapping", str(mapping), "-w", str(path)]) == 0
    assert main(["quarantine", "list", "--json", "-w", str(path)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("[") :]) == []
