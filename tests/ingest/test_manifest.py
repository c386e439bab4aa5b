"""Ingesting a folder through its manifest.json: every entry checked before anything lands, then
the files in order, each with its mapping, compartment, columns, defaults, options and CSV
settings; re-ingesting the folder is a no-op per file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import IBAN_DE, IBAN_GB, IBAN_NL
from palermo.cli import main
from palermo.errors import MappingError, PalermoError
from palermo.ingest.mapping import load_mapping

DATA = Path(__file__).resolve().parent.parent / "data"

BANK_B = (
    "Buchungsreferenz;Buchungszeit;Auftraggeberkonto;Empfängerkonto;Betrag;Auftraggeber;Empfänger\n"
    f"DE-1;02.05.2024 09:15;{IBAN_DE};{IBAN_NL};1.250,50;Jürgen Müller;Agro Vlaanderen BV\n"
    f"DE-2;03.05.2024 17:40;{IBAN_NL};{IBAN_GB};80,00;Agro Vlaanderen BV;Ana Lungu\n"
)
BANK_B_ENTRY = {
    "path": "observed/bank_b.csv",
    "mapping": "payments",
    "compartment": "police-de",
    "columns": {
        "transaction_id": "Buchungsreferenz",
        "timestamp": "Buchungszeit",
        "from_account": "Auftraggeberkonto",
        "to_account": "Empfängerkonto",
        "amount": "Betrag",
        "from_name": "Auftraggeber",
        "to_name": "Empfänger",
    },
    "defaults": {"currency": "EUR"},
    "options": {
        "decimal_comma": True,
        "datetime_formats": ["%d.%m.%Y %H:%M"],
        "timezone": "Europe/Berlin",
    },
    "delimiter": ";",
    "encoding": "utf-8",
    "description": "Bank B export",
}
CUSTOM_YML = """name: suspects
description: a partner's list of suspects
format: csv
fields:
  ref:  {type: identifier, required: true}
  name: {type: name, required: true}
entities:
  suspect:
    kind: Person
    key: [ref]
    properties:
      name: name
"""


def make_folder(root: Path, files: list[dict] | None = None, **top) -> Path:
    """A manifest folder: a German bank export, a goAML report, a travel file read with its
    built-in mapping and a file read through a YAML mapping in the folder."""
    folder = root / "case"
    (folder / "observed").mkdir(parents=True)
    (folder / "mappings").mkdir()
    (folder / "observed" / "bank_b.csv").write_text(BANK_B, encoding="utf-8")
    shutil.copy(DATA / "goaml.xml", folder / "observed" / "str.xml")
    shutil.copy(DATA / "travel.csv", folder / "observed" / "border.csv")
    (folder / "mappings" / "suspects.yml").write_text(CUSTOM_YML, encoding="utf-8")
    (folder / "observed" / "suspects.csv").write_text(
        "ref,name\nS-1,Мирослава Ткаченко\nS-2,Ionuț Munteanu\n", encoding="utf-8"
    )
    if files is None:
        files = [
            BANK_B_ENTRY,
            {"path": "observed/str.xml", "mapping": "goaml", "compartment": "fiu"},
            {"path": "observed/border.csv", "mapping": "travel"},
            {"path": "observed/suspects.csv", "mapping": "mappings/suspects.yml"},
        ]
    manifest = {"palermo_manifest": 1, "description": "test case", "scenario": {"seed": 7}}
    manifest.update(top)
    manifest["files"] = files
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    return folder


def test_manifest_folder_ingests_every_file_in_order(ws, tmp_path):
    folder = make_folder(tmp_path)
    reports = ws.ingest_manifest(folder, compartment="police-gb")
    assert [r.file for r in reports] == ["bank_b.csv", "str.xml", "border.csv", "suspects.csv"]
    assert [r.mapping for r in reports] == ["payments", "goaml", "travel", "suspects"]
    assert [r.compartment for r in reports] == ["police-de", "fiu", "police-gb", "police-gb"]
    assert all(r.rows_quarantined == 0 for r in reports), ws.quarantine()
    assert [r.rows_stored for r in reports] == [2, 1, 4, 2]
    assert reports[0].details["delimiter"] == ";"
    payments = ws.sql(
        "SELECT source_id, amount, currency, occurred_at, compartment FROM payments"
        " WHERE source_id LIKE 'DE-%' ORDER BY source_id"
    ).to_pylist()
    assert [str(p["amount"]) for p in payments] == ["1250.5000", "80.0000"]
    assert {p["currency"] for p in payments} == {"EUR"}
    # 09:15 in Berlin in May (CEST) is 07:15 UTC
    assert (payments[0]["occurred_at"].hour, payments[0]["occurred_at"].minute) == (7, 15)
    assert ws.sql("SELECT count(*) AS n FROM payments WHERE source_id = 'TD-TX-1'").to_pylist() == [
        {"n": 1}
    ]
    names = ws.sql(
        "SELECT DISTINCT value FROM statements WHERE prop = 'name' AND schema = 'LegalEntity'"
        " AND compartment = 'police-de'"
    ).column(0)
    assert "Jürgen Müller" in names.to_pylist()
    suspects = ws.sql(
        "SELECT value FROM statements WHERE prop = 'name' AND evidence_sha256 = ?",
        [reports[3].sha256],
    ).column(0)
    assert sorted(suspects.to_pylist()) == ["Ionuț Munteanu", "Мирослава Ткаченко"]
    assert (
        ws.sql("SELECT count(*) AS n FROM statements WHERE schema = 'Trip'").to_pylist()[0]["n"] > 0
    )


def test_reingesting_the_folder_is_a_noop_per_file(ws, tmp_path, snapshot):
    folder = make_folder(tmp_path)
    ws.ingest_manifest(folder)
    before = snapshot(ws)
    # the folder or the manifest file itself
    for target in (folder, folder / "manifest.json"):
        again = ws.ingest_manifest(target)
        assert [r.already_ingested for r in again] == [True] * 4
    assert snapshot(ws) == before


def _break(entry: dict, **change) -> list[dict]:
    """The four good entries with a fifth, broken one last (so that a manifest that was not
    checked first would have ingested four files)."""
    good = [
        BANK_B_ENTRY,
        {"path": "observed/str.xml", "mapping": "goaml"},
        {"path": "observed/border.csv", "mapping": "travel"},
        {"path": "observed/suspects.csv", "mapping": "mappings/suspects.yml"},
    ]
    return [*good, {**entry, **change}]


BORDER = {"path": "observed/border.csv", "mapping": "travel"}
BROKEN = [
    (_break(BORDER, path="observed/missing.csv"), "entry 5 (observed/missing.csv): no such file"),
    (_break(BORDER, colums={"x": "y"}), "unknown key(s) colums"),
    (_break(BORDER, columns=["record_id"]), "'columns' must be an object"),
    (_break(BORDER, delimiter=1), "'delimiter' must be a non-empty string"),
    (_break(BORDER, mapping="travels"), "no built-in mapping 'travels'"),
    (_break(BORDER, mapping="mappings/nope.yml"), "not found"),
    (_break(BORDER, columns={"vehicel": "Fahrzeug"}), "has no field 'vehicel'"),
    (_break(BORDER, columns={"record_id": "Vorgang"}), "missing column(s) Vorgang"),
    (_break(BORDER, options={"decimal_coma": True}), "has no option 'decimal_coma'"),
    (_break(BORDER, options={"decimal_comma": "yes"}), "decimal_comma must be bool"),
    (_break(BORDER, options={"timezone": "Europe/Atlantis"}), "unknown time zone"),
    (_break(BORDER, compartment="bad name!"), "entry 5 (observed/border.csv)"),
    (_break(BORDER, path="../outside.csv"), "leads outside the manifest's folder"),
    (_break(BORDER, encoding="klingon"), "unknown encoding 'klingon'"),
    ([*_break(BORDER)[:4], "observed/border.csv"], "entry 5: expected an object"),
    ([], "'files' must be a non-empty list"),
]


@pytest.mark.parametrize(("files", "message"), BROKEN, ids=[m for _, m in BROKEN])
def test_broken_manifest_changes_nothing_and_names_the_entry(
    ws, tmp_path, snapshot, files, message
):
    folder = make_folder(tmp_path, files)
    (tmp_path / "outside.csv").write_text((DATA / "travel.csv").read_text("utf-8"), "utf-8")
    before = snapshot(ws)
    with pytest.raises(PalermoError) as caught:
        ws.ingest_manifest(folder)
    text = str(caught.value)
    assert str(folder / "manifest.json") in text
    assert message in text
    assert snapshot(ws) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ('{"files": []}', "not a Palermo manifest"),
        ('{"palermo_manifest": 2, "files": []}', "this Palermo reads version 1"),
    ],
)
def test_unreadable_manifest_is_one_clear_error(ws, tmp_path, content, message):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "manifest.json").write_text(content, "utf-8")
    with pytest.raises(PalermoError, match=message):
        ws.ingest_manifest(folder)


def test_folder_without_manifest_is_an_error(ws, tmp_path):
    with pytest.raises(PalermoError, match=r"without manifest\.json"):
        ws.ingest_manifest(tmp_path)


def test_with_options_merges_and_changes_the_fingerprint():
    calls = load_mapping("calls")
    same = calls.with_options({})
    assert same.fingerprint == calls.fingerprint
    berlin = calls.with_options({"timezone": "Europe/Berlin", "phone_region": "DE"})
    assert berlin.options == {"phone_region": "DE", "timezone": "Europe/Berlin"}
    assert calls.options == {"phone_region": "GB"}  # the original is unchanged
    assert berlin.fingerprint != calls.fingerprint
    assert calls.with_options({"phone_region": "GB"}).fingerprint == calls.fingerprint
    with pytest.raises(MappingError, match="no option 'zone'"):
        calls.with_options({"zone": "UTC"})
    with pytest.raises(MappingError, match="chunk_rows must be int"):
        calls.with_options({"chunk_rows": True})
    with pytest.raises(MappingError, match="datetime_formats must be a list of strings"):
        calls.with_options({"datetime_formats": "%d.%m.%Y"})


# -- CLI ------------------------------------------------------------------------------------------
@pytest.fixture
def ws_path(tmp_path):
    import palermo

    path = tmp_path / "ws"
    palermo.init(path, actor="tester").close()
    return path


def test_cli_ingests_a_manifest_folder(ws_path, tmp_path, capsys):
    folder = make_folder(tmp_path)
    assert main(["ingest", str(folder), "-w", str(ws_path), "-c", "police-gb"]) == 0
    out = capsys.readouterr().out
    for name in ("bank_b.csv", "str.xml", "border.csv", "suspects.csv"):
        assert name in out
    # the manifest file itself, again (same compartments): every file a no-op
    argv = ["ingest", str(folder / "manifest.json"), "-w", str(ws_path), "-c", "police-gb"]
    assert main([*argv, "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["already_ingested"] for r in reports] == [True] * 4


def test_cli_manifest_with_a_bad_row_exits_3(ws_path, tmp_path, capsys):
    folder = make_folder(tmp_path)
    bank = folder / "observed" / "bank_b.csv"
    bank.write_text(
        BANK_B + f"DE-3;04.05.2024 08:00;{IBAN_DE};{IBAN_NL};zwölf;A;B\n", encoding="utf-8"
    )
    assert main(["ingest", str(folder), "-w", str(ws_path)]) == 3
    captured = capsys.readouterr()
    assert "1 row(s) quarantined" in captured.err
    assert "suspects.csv" in captured.out  # the files after it still landed
    assert main(["ingest", str(folder), "-w", str(ws_path), "--allow-partial"]) == 0


def test_cli_broken_manifest_is_one_line_and_ingests_nothing(ws_path, tmp_path, capsys):
    folder = make_folder(tmp_path, _break(BORDER, mapping="travels"))
    assert main(["ingest", str(folder), "-w", str(ws_path)]) == 1
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert line.startswith("palermo: error: manifest ")
    assert "entry 5 (observed/border.csv)" in line
    assert main(["status", "-w", str(ws_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"] == []


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["-m", "payments"], "--mapping"),
        (["--columns", "amount=Betrag"], "--columns"),
        (["--default", "currency=EUR"], "--default"),
        (["--delimiter", ";"], "--delimiter"),
    ],
)
def test_cli_manifest_refuses_per_file_options(ws_path, tmp_path, capsys, extra, option):
    folder = make_folder(tmp_path)
    assert main(["ingest", str(folder), "-w", str(ws_path), *extra]) == 2
    err = capsys.readouterr().err
    assert option in err and "manifest" in err


def test_cli_plain_file_needs_a_mapping(ws_path, capsys):
    assert main(["ingest", str(DATA / "travel.csv"), "-w", str(ws_path)]) == 2
    err = capsys.readouterr().err
    assert "--mapping" in err and "which mapping" in err


def test_cli_plain_file_and_manifest_together_is_refused(ws_path, tmp_path, capsys):
    folder = make_folder(tmp_path)
    assert main(["ingest", str(folder), str(DATA / "travel.csv"), "-w", str(ws_path)]) == 2
    assert "separate command" in capsys.readouterr().err
