"""A simulated case ingests through its manifest with the built-in mappings: everything lands,
and the quarantine holds exactly the rows the ground truth says were broken on purpose."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import palermo
from palermo.simulate import simulate
from palermo.simulate.scenarios import SCENARIOS


def truth_rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / "truth" / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_simulated_case_ingests_and_quarantines_only_the_broken_rows(
    tmp_path: Path, scenario: str
) -> None:
    case = tmp_path / "case"
    summary = simulate(scenario, "tiny", 21, case)
    with palermo.open(tmp_path / "ws", create=True) as ws:
        reports = ws.ingest_manifest(case)
        manifest = json.loads((case / "manifest.json").read_text())
        assert len(reports) == len(manifest["files"])
        quarantined = {
            (f"observed/{q['file']}" if "/" not in q["file"] else q["file"], int(q["row"]))
            for q in ws.quarantine()
        }
        status = ws.status()
    broken = {(b["file"], int(b["row"])) for b in truth_rows(case, "broken_rows.csv")}
    assert broken, "the tiny case breaks some rows on purpose"
    assert quarantined == broken
    rows_read = sum(r.rows_read for r in reports)
    assert sum(r.rows_stored for r in reports) == rows_read - len(broken)
    # bank rows all land as payments (goAML reports add theirs), calls as calls
    goaml = sum(r.rows_stored for r in reports if Path(r.file).name.startswith("goaml"))
    assert status["totals"]["payments"] == summary["transactions"] - len(broken) + goaml
    assert status["totals"]["calls"] > 0


def test_cli_simulate_then_ingest(tmp_path: Path) -> None:
    """The commands exactly as the issue and the README spell them."""
    exe = [sys.executable, "-m", "palermo"]
    case = tmp_path / "case"
    done = subprocess.run(
        [*exe, "simulate", "--scenario", "labour-agri", "--scale", "tiny", "--seed", "3",
         "--out", str(case), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = json.loads(done.stdout)
    assert summary["victims"] > 0 and (case / "manifest.json").exists()
    ws = tmp_path / "ws"
    subprocess.run([*exe, "init", str(ws)], check=True, capture_output=True)
    ingest = subprocess.run(
        [*exe, "ingest", str(case), "-w", str(ws)], capture_output=True, text=True
    )
    assert ingest.returncode == 3  # the deliberately broken rows are quarantined
    assert "quarantined" in ingest.stderr
    again = subprocess.run(
        [*exe, "ingest", str(case), "-w", str(ws), "--allow-partial"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0
    bad = subprocess.run(
        [*exe, "simulate", "--scenario", "nope", "--out", str(tmp_path / "x")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0 and "unknown scenario" in bad.stderr


def test_demo_command_builds_a_resolved_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make demo` runs (at the tiny scale here): simulate, ingest, resolve, analyse the
    network, summarise."""
    from palermo.cli import main

    ws, case = tmp_path / "ws", tmp_path / "case"
    assert main(["demo", "--workspace", str(ws), "--case", str(case), "--scale", "tiny"]) == 0
    text = capsys.readouterr().out
    assert "ingested" in text and "resolved" in text and "F1" in text
    assert "network:" in text and "criminal cells" in text and "macro-F1" in text
    assert (case / "network" / "nodes.csv").is_file()
    with palermo.open(ws) as w:
        assert w.status()["totals"]["payments"] > 0
        assert w.resolution()
        assert w.sql("SELECT count(*) AS n FROM findings").to_pylist()[0]["n"] > 0
