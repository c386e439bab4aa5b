"""`palermo network disrupt`: strategies side by side on a graph whose key player is known."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.network.disrupt import STRATEGIES, disrupt


def star_of_cells(path: Path) -> Path:
    """Four cliques of 5 hanging off one hub ('boss'), each through its own contact."""
    rows = []
    for cell in "ABCD":
        members = [f"{cell}{i}" for i in range(5)]
        rows += list(itertools.combinations(members, 2))
        rows.append(("boss", f"{cell}0"))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source", "target", "amount"])
        w.writerows((a, b, 100 if a == "boss" else 10) for a, b in rows)
    return path


def test_strategies_side_by_side(tmp_path: Path) -> None:
    path = star_of_cells(tmp_path / "e.csv")
    out = tmp_path / "out"
    summary = disrupt(path, weight="amount", k=3, out=out)
    with (out / "strategies.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert set(r["strategy"] for r in rows) == set(STRATEGIES)
    for s in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == s]
        assert [int(r["step"]) for r in mine] == [0, 1, 2, 3]  # step 0 = the intact network
        assert float(mine[0]["lcc_fraction"]) == 1.0 and float(mine[0]["flow_cut_fraction"]) == 0
    first = {r["strategy"]: r for r in rows if r["step"] == "1"}
    # the hub holds the cells together: betweenness and the key-player set take it first
    assert first["betweenness"]["removed_node"] == "boss"
    assert first["key_player"]["removed_node"] == "boss"
    assert float(first["key_player"]["lcc_fraction"]) == pytest.approx(5 / 21)
    assert int(first["key_player"]["components"]) == 4
    # targeted removal beats random removal
    final = summary["lcc_fraction_after_k"]
    assert final["key_player"] < final["random"]
    assert (out / "strategies.png").stat().st_size > 1000
    assert (out / "strategies.svg").read_text().startswith("<?xml")


def test_same_input_same_files(tmp_path: Path) -> None:
    path = star_of_cells(tmp_path / "e.csv")
    disrupt(path, k=2, out=tmp_path / "a")
    disrupt(path, k=2, out=tmp_path / "b")
    for name in ("strategies.csv", "strategies.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_cli_as_the_issue_spells_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = star_of_cells(tmp_path / "e.csv")
    rc = main(["network", "disrupt", str(path), "--k", "2", "--strategies", "all",
               "--out", str(tmp_path / "o"), "--json"])  # fmt: skip
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["k"] == 2
    with pytest.raises(PalermoError, match="unknown strategy"):
        disrupt(path, k=2, strategies="degree,luck", out=tmp_path / "x")
    assert main(["network", "disrupt", str(path), "--k", "0", "--out", str(tmp_path / "y")]) != 0
