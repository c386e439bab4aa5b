"""`palermo network timeline`: cells forming, merging, splitting, dissolving, on made-up months
whose story is known by construction."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from pathlib import Path

import pyarrow as pa
import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.network.timeline import compute_timeline, timeline, timeline_edges

A = ["a0", "a1", "a2", "a3"]
B = ["b0", "b1", "b2", "b3"]
C = ["c0", "c1", "c2"]
D = ["d0", "d1", "d2", "d3"]


def clique(members: list[str], when: str) -> list[tuple[str, str, float, str]]:
    return [(a, b, 1.0, when) for a, b in itertools.combinations(members, 2)]


def story() -> list[tuple[str, str, float, str]]:
    """January: cells A, B (one tie between them) and C. February: A and B work as one, C is
    gone, D appears. March: the A+B cell splits in two (each with a newcomer), D goes on."""
    return (
        clique(A, "2024-01-03") + clique(B, "2024-01-10T08:00:00") + clique(C, "2024-01-20")
        + [("a0", "b0", 1.0, "2024-01-15")]
        + clique(A + B, "2024-02-05") + clique(D, "2024-02-09")
        + clique([*A[:3], "x1"], "2024-03-01") + clique([*B[:3], "y1"], "2024-03-02")
        + clique(D, "2024-03-09 23:00:00+00:00")
    )  # fmt: skip


def as_table(rows: list[tuple[str, str, float, str]]) -> dict[str, list[object]]:
    return {
        "source": [r[0] for r in rows],
        "target": [r[1] for r in rows],
        "weight": [r[2] for r in rows],
        "time": [r[3] for r in rows],
    }


def write_csv(path: Path, rows: list[tuple[str, str, float, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["caller", "callee", "calls", "start"])
        w.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_cells_form_merge_split_and_dissolve(tmp_path: Path) -> None:
    summary = timeline_edges(as_table(story()), out=tmp_path)
    assert summary["periods"] == 3 and summary["first_period"] == "2024-01"
    assert summary["events"] == {"formed": 4, "continued": 1, "merged": 1, "split": 1,
                                 "dissolved": 1}  # fmt: skip
    periods = read(tmp_path / "periods.csv")
    assert [(p["period"], p["communities"]) for p in periods] == [
        ("2024-01", "3"), ("2024-02", "2"), ("2024-03", "3")
    ]  # fmt: skip
    cells = {(c["period"], c["members"]): c for c in read(tmp_path / "cells.csv")}
    a, b, c = (cells[("2024-01", ";".join(x))] for x in (A, B, C))
    assert [a["event"], b["event"], c["event"]] == ["formed"] * 3
    assert [a["fate"], b["fate"], c["fate"]] == ["merged", "merged", "dissolved"]
    ab = cells[("2024-02", ";".join(A + B))]
    assert ab["event"] == "merged" and ab["continues"] == f"{a['cell']};{b['cell']}"
    assert ab["cell"] == a["cell"]  # the lineage goes on; the ties go to the earlier community
    assert ab["fate"] == "split"
    d = cells[("2024-02", ";".join(D))]
    assert d["event"] == "formed" and d["cell"] not in {a["cell"], b["cell"], c["cell"]}
    d3 = cells[("2024-03", ";".join(D))]
    assert (d3["cell"], d3["event"], d3["continues"], d3["fate"]) == (d["cell"], "continued",
                                                                      d["cell"], "")  # fmt: skip
    left = cells[("2024-03", "a0;a1;a2;x1")]
    right = cells[("2024-03", "b0;b1;b2;y1")]
    assert left["event"] == right["event"] == "split"
    assert left["continues"] == right["continues"] == ab["cell"]
    assert {left["cell"], right["cell"]} == {ab["cell"], "T5"}  # one keeps it, one is new
    events = read(tmp_path / "events.csv")
    merged = next(e for e in events if e["event"] == "merged")
    assert (merged["period"], merged["from_cells"], merged["to_cells"], merged["jaccard"]) == (
        "2024-02", f"{a['cell']};{b['cell']}", a["cell"], "0.5000;0.5000"
    )  # fmt: skip
    gone = next(e for e in events if e["event"] == "dissolved")
    assert (gone["period"], gone["from_cells"], gone["to_cells"]) == ("2024-02", c["cell"], "")
    split = next(e for e in events if e["event"] == "split")
    assert split["period"] == "2024-03" and split["jaccard"] == "0.3333;0.3333"


def test_who_persists(tmp_path: Path) -> None:
    timeline_edges(as_table(story()), out=tmp_path)
    rows = read(tmp_path / "persistence.csv")
    assert list(rows[0]) == ["node", "periods_active", "first_period", "last_period", "cells"]
    every = [r["node"] for r in rows if r["periods_active"] == "3"]
    assert every == ["a0", "a1", "a2", "b0", "b1", "b2"]  # first: most periods, then by name
    assert [r["node"] for r in rows[:6]] == every
    b0 = next(r for r in rows if r["node"] == "b0")
    assert (b0["first_period"], b0["last_period"]) == ("2024-01", "2024-03")
    assert len(b0["cells"].split(";")) == 3  # its own cell, the merged one, the split-off
    c0 = next(r for r in rows if r["node"] == "c0")
    assert (c0["periods_active"], c0["last_period"]) == ("1", "2024-01")


def test_quarters_years_and_utc(tmp_path: Path) -> None:
    rows = [("a", "b", 1.0, "2024-03-31T23:30:00-02:00"), ("b", "c", 1.0, "2024-03-01")]
    t = compute_timeline(as_table(rows), period="month")
    assert [p["period"] for p in t.periods] == ["2024-03", "2024-04"]  # the offset moves it
    t = compute_timeline(as_table(rows), period="quarter")
    assert [p["period"] for p in t.periods] == ["2024-Q1", "2024-Q2"]
    t = compute_timeline(as_table(rows), period="year")
    assert [(p["period"], p["nodes"], p["ties"]) for p in t.periods] == [("2024", 3, 2)]
    with pytest.raises(PalermoError, match="--period 'week'"):
        compute_timeline(as_table(rows), period="week")


def test_arrow_table_with_timestamps_and_no_weight() -> None:
    table = pa.table({
        "source": ["a", "b", "a", "a"], "target": ["b", "c", "b", "a"],
        "time": pa.array([dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 6),
                          dt.datetime(2024, 2, 1), dt.datetime(2024, 2, 2)], pa.timestamp("us")),
    })  # fmt: skip
    t = compute_timeline(table)
    assert [(p["period"], p["nodes"]) for p in t.periods] == [("2024-01", 3), ("2024-02", 2)]
    assert t.self_loops == 1 and t.notes == ["1 self-loop row(s) dropped"]
    with pytest.raises(PalermoError, match="workspace: no column 'time'"):
        compute_timeline({"source": ["a"], "target": ["b"]}, label="workspace")


def test_bad_times_refused_with_the_row(tmp_path: Path) -> None:
    rows = [("a", "b", 1.0, "2024-01-02"), ("b", "c", 1.0, "yesterday"), ("c", "d", 1.0, "")]
    path = write_csv(tmp_path / "e.csv", rows)
    with pytest.raises(PalermoError) as err:
        timeline(path, source="caller", target="callee", time="start", out=tmp_path / "o")
    msg = str(err.value)
    assert "e.csv: --time 'start' must be an ISO date or timestamp" in msg
    assert "row 3: 'yesterday'" in msg and "row 4: ''" in msg  # the header is row 1
    with pytest.raises(PalermoError, match=r"edges: column 'time' must .* \(row 1: 'x'\)"):
        compute_timeline(as_table([("a", "b", 1.0, "x")]))
    with pytest.raises(PalermoError, match=r"--weight 'calls' must be a number >= 0 \(row 2"):
        timeline(write_csv(tmp_path / "w.csv", [("a", "b", -1.0, "2024-01-01")]),
                 source="caller", target="callee", weight="calls", time="start",
                 out=tmp_path / "o")  # fmt: skip
    with pytest.raises(PalermoError, match="no column --time 'when'"):
        timeline(path, source="caller", target="callee", time="when", out=tmp_path / "o")


def test_cli_same_input_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "calls.csv", story())
    for name in ("a", "b"):
        rc = main(["network", "timeline", str(path), "--source", "caller", "--target", "callee",
                   "--weight", "calls", "--time", "start", "--period", "month",
                   "--out", str(tmp_path / name), "--json"])  # fmt: skip
        assert rc == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["periods"] == 3 and summary["cells"] == 5
    for name in ("periods.csv", "cells.csv", "events.csv", "persistence.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # the in-memory table gives the same files as the CSV
    timeline_edges(as_table(story()), out=tmp_path / "c")
    assert (tmp_path / "a" / "cells.csv").read_bytes() == (
        tmp_path / "c" / "cells.csv"
    ).read_bytes()
    rc = main(["network", "timeline", str(path), "--source", "caller", "--target", "callee",
               "--time", "start", "--out", str(tmp_path / "d")])  # fmt: skip
    assert rc == 0 and "3 month(s) 2024-01 to 2024-03" in capsys.readouterr().out
    assert main(["network", "timeline", str(path), "--time", "nope", "--out", str(tmp_path)]) != 0
    assert "no column --time 'nope'" in capsys.readouterr().err
