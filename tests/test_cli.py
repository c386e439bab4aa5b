"""The CLI: exit codes, one-line errors, JSON output, help with examples, a valid FtM export."""

from __future__ import annotations

import json

import pytest
import typer
from followthemoney import model

import palermo
from conftest import SAMPLES, payment
from palermo.cli import app, main


@pytest.fixture
def ws_path(tmp_path):
    """A fresh, closed workspace (the CLI opens it itself)."""
    path = tmp_path / "ws"
    palermo.init(path, actor="tester").close()
    return path


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_init_creates_workspace(tmp_path, capsys):
    path = tmp_path / "case-17"
    assert main(["init", str(path)]) == 0
    assert (path / "palermo.duckdb").is_file()
    assert (path / "evidence").is_dir()
    assert "created workspace" in capsys.readouterr().out


def test_init_twice_is_one_line_error(ws_path, capsys):
    assert main(["init", str(ws_path)]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("palermo: error:")


def test_status_json(ws_path, capsys):
    with palermo.open(ws_path) as ws:
        ws.ingest(SAMPLES / "payments.csv", mapping="payments", compartment="c1")
    capsys.readouterr()
    assert main(["status", "--json", "-w", str(ws_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["payments"] == 321
    assert data["totals"]["quarantine_open"] == 0
    assert data["totals"]["evidence_files"] == 1
    [source] = data["sources"]
    assert (source["file"], source["mapping"], source["compartment"]) == (
        "payments.csv",
        "payments",
        "c1",
    )
    assert source["rows_stored"] == 321


def test_status_of_missing_workspace_is_one_line_error(tmp_path, capsys):
    assert main(["status", "-w", str(tmp_path / "nowhere")]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("palermo: error: no workspace at")


def test_export_ftm_lines_validate(ws_path, tmp_path, capsys):
    with palermo.open(ws_path) as ws:
        for name, mapping in [
            ("payments.csv", "payments"),
            ("calls.csv", "calls"),
            ("companies.csv", "companies"),
            ("entities.ftm.jsonl", "ftm"),
        ]:
            ws.ingest(SAMPLES / name, mapping=mapping, compartment="c1")
    out = tmp_path / "case.ftm.jsonl"
    assert main(["export", "--format", "ftm", "--out", str(out), "-w", str(ws_path)]) == 0
    assert "exported" in capsys.readouterr().err
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines
    schemata = set()
    proxies = []
    for line in lines:
        data = json.loads(line)
        proxy = model.get_proxy(data)
        assert proxy.id
        missing = [p for p in proxy.schema.required if not proxy.get(p)]
        assert missing == [], (proxy.id, proxy.schema.name, missing)
        schemata.add(proxy.schema.name)
        proxies.append(proxy)
    assert {"Payment", "Call", "BankAccount", "Company", "Person"} <= schemata
    # payments name their parties and accounts by the ids of exported entities
    ids = {p.id for p in proxies}
    from_csv = [p for p in proxies if p.schema.name == "Payment" and p.get("recordId")]
    assert from_csv
    for pay in from_csv:
        for prop in ("payer", "beneficiary", "payerAccount", "beneficiaryAccount"):
            assert set(pay.get(prop)) <= ids and pay.get(prop), (pay.id, prop)


def test_export_unknown_format_fails(ws_path, tmp_path, capsys):
    rc = main(["export", "--format", "csv", "--out", str(tmp_path / "x"), "-w", str(ws_path)])
    assert rc != 0
    assert "unknown format" in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(capsys):
    assert main(["ingest", "--bogus"]) == 2
    assert "internal error" not in capsys.readouterr().err


def test_export_unknown_format_is_a_usage_error(ws_path, tmp_path, capsys):
    rc = main(["export", "--format", "csv", "--out", str(tmp_path / "x"), "-w", str(ws_path)])
    assert rc == 2
    assert "internal error" not in capsys.readouterr().err


def test_mappings_json(capsys):
    assert main(["mappings", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {
        "ads",
        "calls",
        "companies",
        "employment",
        "ftm",
        "goaml",
        "land",
        "notes",
        "payments",
        "persons",
        "travel",
    }
    assert rows["travel"]["required"] == ["record_id", "crossed_at"]
    assert rows["payments"]["format"] == "csv"
    assert {"transaction_id", "timestamp", "amount", "currency"} <= set(
        rows["payments"]["required"]
    )
    assert "from_name" in rows["payments"]["optional"]
    assert rows["calls"]["required"] == ["caller", "callee", "start_time", "duration_s"]
    for row in rows.values():
        assert row["description"]


def _command_paths() -> list[list[str]]:
    def walk(cmd, prefix: list[str]) -> list[list[str]]:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            return [p for name, sub in cmd.commands.items() for p in walk(sub, [*prefix, name])]
        return [prefix]

    return walk(typer.main.get_command(app), [])


def test_every_command_is_covered_by_help_test():
    names = {" ".join(p) for p in _command_paths()}
    assert {"init", "ingest", "status", "export", "mappings", "quarantine list"} <= names


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: "-".join(p))
def test_help_has_an_example(path, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example:" in out
    assert f"palermo {' '.join(path)}" in out


# -- ingest exit codes --------------------------------------------------------------------------
def test_ingest_clean_file_exits_0(ws_path, write_payments, capsys):
    path = write_payments([payment(1), payment(2)])
    assert main(["ingest", str(path), "--mapping", "payments", "-w", str(ws_path)]) == 0
    captured = capsys.readouterr()
    assert "2 stored" in captured.out
    assert captured.err == ""


def test_ingest_with_quarantine_exits_3(ws_path, write_payments, capsys):
    path = write_payments([payment(1), payment(2, amount="x")])
    assert main(["ingest", str(path), "--mapping", "payments", "-w", str(ws_path)]) == 3
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("palermo: error: 1 row(s) quarantined")
    with palermo.open(ws_path) as ws:
        assert ws.status()["totals"]["payments"] == 1


def test_ingest_allow_partial_exits_0(ws_path, write_payments):
    path = write_payments([payment(1), payment(2, amount="x")])
    argv = ["ingest", str(path), "--mapping", "payments", "--allow-partial", "-w", str(ws_path)]
    assert main(argv) == 0


def test_ingest_source_error_exits_1_with_one_line(ws_path, tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert main(["ingest", str(path), "--mapping", "payments", "-w", str(ws_path)]) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("palermo: error: ")
    assert "empty.csv" in line


def test_ingest_missing_file_exits_1(ws_path, tmp_path, capsys):
    argv = ["ingest", str(tmp_path / "nope.csv"), "--mapping", "payments", "-w", str(ws_path)]
    assert main(argv) == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("palermo: error: ") and "nope.csv" in line


def test_ingest_unknown_mapping_exits_1_with_one_line(ws_path, write_payments, capsys):
    path = write_payments([payment(1)])
    assert main(["ingest", str(path), "--mapping", "bank-statements", "-w", str(ws_path)]) == 1
    captured = capsys.readouterr()
    [line] = error_lines(captured.err)
    assert line.startswith("palermo: error: ")
    assert "bank-statements" in line
    assert "payments" in line  # the built-in names are listed
    with palermo.open(ws_path) as ws:
        assert ws.status()["totals"]["evidence_files"] == 0


def test_ingest_json_output(ws_path, write_payments, capsys):
    path = write_payments([payment(1)])
    assert main(["ingest", str(path), "-m", "payments", "--json", "-w", str(ws_path)]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert (report["rows_stored"], report["rows_quarantined"], report["file"]) == (
        1,
        0,
        "payments.csv",
    )


def test_audit_verify_after_ingest(ws_path, write_payments, capsys):
    main(["ingest", str(write_payments([payment(1)])), "-m", "payments", "-w", str(ws_path)])
    capsys.readouterr()
    assert main(["audit", "verify", "--json", "-w", str(ws_path)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
