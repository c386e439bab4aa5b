"""A large file is checked and stored in chunks; the result must not depend on the chunk size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import palermo
from palermo.ingest.mapping import load_mapping

SAMPLES = Path(palermo.__file__).parent / "samples"


def _chunked(name: str, rows: int):  # type: ignore[no-untyped-def]
    mapping = load_mapping(name)
    return replace(mapping, options={**mapping.options, "chunk_rows": rows})


def _contents(ws) -> tuple[list, list, list]:  # type: ignore[no-untyped-def]
    statements = ws.sql(
        "SELECT id, entity_id, prop, value, original, translit, source_row FROM statements ORDER BY id"
    ).to_pylist()
    payments = ws.sql(
        "SELECT id, payer_key, payee_account_key, amount, source_row FROM payments ORDER BY id"
    ).to_pylist()
    quarantine = ws.sql("SELECT source_row, reason FROM quarantine ORDER BY source_row").to_pylist()
    return statements, payments, quarantine


def test_chunk_size_does_not_change_what_is_stored(tmp_path: Path) -> None:
    results = []
    for i, rows in enumerate((1_000_000, 40)):
        with palermo.init(tmp_path / f"ws{i}") as ws:
            [report] = ws.ingest(SAMPLES / "payments.csv", mapping=_chunked("payments", rows))
            results.append((report.rows_stored, report.statements, _contents(ws)))
    assert results[0] == results[1]
    assert results[0][0] == 321


def test_duplicate_id_in_a_later_chunk_is_quarantined(tmp_path: Path) -> None:
    src = (SAMPLES / "payments.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "dup.csv"
    # row 2's transaction again at the end (row 323), many chunks later
    path.write_text("\n".join([*src, src[1]]) + "\n", encoding="utf-8")
    with palermo.init(tmp_path / "ws") as ws:
        [report] = ws.ingest(path, mapping=_chunked("payments", 10))
        [q] = ws.quarantine()
    assert (report.rows_stored, report.rows_quarantined) == (321, 1)
    assert q["row"] == 323
    assert "same payments id as row 2 of this file" in q["reason"]


def test_duplicate_call_across_chunks_is_quarantined(tmp_path: Path) -> None:
    # call ids come from normalised values (E.164 numbers, UTC time): the same call written with
    # another number format is still the same call
    path = tmp_path / "calls.csv"
    path.write_text(
        "caller,callee,start_time,duration_s\n"
        "+44 20 7946 0001,+44 20 7946 0002,2024-03-01T10:00:00Z,60\n"
        "+44 20 7946 0003,+44 20 7946 0004,2024-03-01T11:00:00Z,30\n"
        "020 7946 0001,020 7946 0002,2024-03-01 10:00:00,60\n",
        encoding="utf-8",
    )
    with palermo.init(tmp_path / "ws") as ws:
        [report] = ws.ingest(path, mapping=_chunked("calls", 1))
        [q] = ws.quarantine()
    assert (report.rows_stored, report.rows_quarantined) == (2, 1)
    assert q["row"] == 4 and "same calls id as row 2" in q["reason"]
