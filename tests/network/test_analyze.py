"""`palermo network analyze` on hand-made graphs whose communities, brokers and key players are
known by construction, and its handling of bad input."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.network.analyze import analyze


def write_edges(
    path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = ("a", "b")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def clique(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(f"{prefix}{i}", f"{prefix}{j}") for i, j in itertools.combinations(range(n), 2)]


def test_three_cells_joined_by_brokers(tmp_path: Path) -> None:
    # three cliques of 6 (cells); 'broker' ties cell A to B and C; 'courier' ties B to C
    rows = clique("A", 6) + clique("B", 6) + clique("C", 6)
    rows += [
        ("A0", "broker"),
        ("broker", "B0"),
        ("broker", "C0"),
        ("B5", "courier"),
        ("courier", "C5"),
    ]
    path = write_edges(tmp_path / "e.csv", rows)
    summary = analyze(path, source="a", target="b", out=tmp_path / "out", key_player_k=2)
    nodes = {r["node"]: r for r in read(tmp_path / "out" / "nodes.csv")}
    assert summary["nodes"] == 20 and summary["components"] == 1
    # the cells are found: every clique in one community, the three apart
    cell_of = {p: {nodes[f"{p}{i}"]["community"] for i in range(6)} for p in "ABC"}
    assert all(len(c) == 1 for c in cell_of.values())
    assert len({next(iter(c)) for c in cell_of.values()}) == 3
    # the broker has the highest betweenness and is the first key player
    top = max(nodes.values(), key=lambda r: float(r["betweenness"]))
    assert top["node"] == "broker"
    assert nodes["broker"]["key_player_rank"] == "1"
    assert summary["key_players"][0] == "broker"
    # brokerage: the broker's three neighbours are not tied to each other; a clique member's are
    assert int(nodes["broker"]["brokerage"]) == 3
    assert int(nodes["A3"]["brokerage"]) == 0
    communities = read(tmp_path / "out" / "communities.csv")
    assert sum(int(c["size"]) for c in communities) == 20
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["communities"] >= 3


def test_weights_time_duplicates_and_self_loops(tmp_path: Path) -> None:
    rows = [
        ("x", "y", "3", "2024-01-05"),
        ("y", "x", "2", "2024-02-01"),  # the same tie, the other way: merged
        ("x", "x", "9", "2024-03-01"),  # self-loop: dropped
        ("y", "z", "1", "2024-04-01"),
    ]
    path = write_edges(tmp_path / "e.csv", rows, ("from", "to", "calls", "when"))
    summary = analyze(
        path, source="from", target="to", weight="calls", time="when", out=tmp_path / "o"
    )
    assert summary["self_loops_dropped"] == 1 and summary["duplicate_rows_merged"] == 1
    nodes = {r["node"]: r for r in read(tmp_path / "o" / "nodes.csv")}
    assert float(nodes["x"]["strength"]) == 5.0  # 3 + 2
    communities = read(tmp_path / "o" / "communities.csv")
    assert min(c["first_seen"] for c in communities) == "2024-01-05"


def test_same_input_same_output(tmp_path: Path) -> None:
    rows = clique("A", 5) + clique("B", 5) + [("A0", "B0")]
    path = write_edges(tmp_path / "e.csv", rows)
    analyze(path, source="a", target="b", out=tmp_path / "o1")
    reversed_path = write_edges(tmp_path / "r.csv", [(b, a) for a, b in reversed(rows)])
    analyze(reversed_path, source="a", target="b", out=tmp_path / "o2")
    assert (tmp_path / "o1" / "nodes.csv").read_bytes() == (
        tmp_path / "o2" / "nodes.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", [], "empty file"),
        (b"a,b\n", [], "no edges"),
        (b"p,q\n1,2\n", [], "no column --source 'a'"),
        (b"a,b,w\nx,y,1\ny,z,heavy\n", ["--weight", "w"], "row 3: 'heavy'"),
        (b"a,b,w\nx,y,-2\n", ["--weight", "w"], "must be a number >= 0"),
        (b"a,b\nx,x\n", [], "at least 2 nodes"),
        (b"a,b\nx,\n", [], "rows 2: empty"),
    ],
)
def test_bad_input_is_refused_clearly(
    tmp_path: Path,
    content: bytes,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    weight = args[1] if args else None
    with pytest.raises(PalermoError, match=message):
        analyze(path, source="a", target="b", weight=weight, out=tmp_path / "o")
    rc = main(["network", "analyze", str(path), "--source", "a", "--target", "b",
               "--out", str(tmp_path / "o"), *args])  # fmt: skip
    assert rc != 0
    assert "Traceback" not in capsys.readouterr().err


def test_cli_two_node_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_edges(tmp_path / "e.csv", [("a", "b")], ("s", "t"))
    rc = main(["network", "analyze", str(path), "--source", "s", "--target", "t",
               "--out", str(tmp_path / "o"), "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nodes"] == 2 and summary["communities"] == 1


def test_sampled_betweenness_estimates_the_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the exact limit, betweenness from sampled sources, scaled: close to exact."""
    import igraph as ig
    import numpy as np

    import palermo.network.analyze as A

    g = ig.Graph.Barabasi(1500, 3, outpref=False)
    g.es["weight"] = [1.0] * g.ecount()
    exact = np.array(A._betweenness(g))
    monkeypatch.setattr(A, "EXACT_BETWEENNESS_MAX", 100)
    estimate = np.array(A._betweenness(g))
    assert np.corrcoef(exact, estimate)[0, 1] > 0.95
    assert abs(estimate.sum() / exact.sum() - 1) < 0.1
    assert set(np.argsort(-exact)[:3]) & set(np.argsort(-estimate)[:5])
