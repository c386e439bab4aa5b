"""Recovery after disruption: the remaining members re-link, on graphs whose answer is known."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import igraph as ig
import numpy as np
import pytest

from palermo.cli import main
from palermo.errors import PalermoError
from palermo.network.analyze import fragmentation
from palermo.network.disrupt import (
    RECOVERY_SEEDS,
    disrupt,
    disrupt_graph,
    recover,
    recovery,
    simulate,
)

LEAVES = ["l1", "l2", "l3", "l4", "l5"]


def graph(ties: list[tuple[str, str]]) -> ig.Graph:
    names = sorted({n for t in ties for n in t})
    index = {n: i for i, n in enumerate(names)}
    g = ig.Graph(n=len(names), edges=[(index[a], index[b]) for a, b in ties])
    g.vs["name"] = names
    g.es["weight"] = [1.0] * len(ties)
    return g


def star() -> ig.Graph:
    return graph([("hub", leaf) for leaf in LEAVES])


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_star_recovers_to_one_component_pairwise() -> None:
    h, new = recover(star(), ["hub"], "pairwise", 1.0, np.random.default_rng(0))
    assert h.vcount() == 5 and new == 10  # every pair of the hub's contacts now tied
    assert h.is_connected()


def test_star_recovers_around_a_deputy_takeover() -> None:
    h, new = recover(star(), ["hub"], "takeover", 1.0, np.random.default_rng(0))
    # all leaves have one tie: the deputy is the smallest name, and takes over the other four
    assert new == 4 and h.is_connected()
    assert h.degree(h.vs.find(name="l1").index) == 4


def test_no_relinking_with_p_zero() -> None:
    h, new = recover(star(), ["hub"], "pairwise", 0.0, np.random.default_rng(0))
    assert new == 0 and len(h.connected_components()) == 5


def test_a_chain_of_removed_nodes_is_bridged() -> None:
    # x - A - B - y: A re-links x with B, then B re-links x with y
    g = graph([("x", "A"), ("A", "B"), ("B", "y")])
    h, new = recover(g, ["A", "B"], "pairwise", 1.0, np.random.default_rng(0))
    assert sorted(h.vs["name"]) == ["x", "y"] and h.ecount() == 1 and new == 1


def test_random_relinking_is_averaged_over_seeds() -> None:
    rec = recovery(star(), [["hub"]], "pairwise", 0.5)
    assert rec["runs"] == RECOVERY_SEEDS
    assert 0 < rec["new_ties"] < 10
    assert 1 / 6 <= rec["lcc_fraction"] <= 5 / 6
    assert recovery(star(), [["hub"]], "pairwise", 0.5) == rec  # seeded


def test_disrupt_graph_writes_recovery(tmp_path: Path) -> None:
    out = tmp_path / "o"
    summary = disrupt_graph(
        star(), k=1, strategies=["degree", "random"], fixed={"money_handlers": ["hub"]},
        out=out, relink=1.0,
    )  # fmt: skip
    assert summary["strategies"] == ["degree", "random", "money_handlers"]
    assert summary["lcc_fraction_recovered"]["degree"] == {"pairwise": 0.8333, "takeover": 0.8333}
    assert summary["fragmentation_after_k"]["degree"] == 1.0
    rows = read(out / "strategies.csv")
    assert list(rows[0]) == ["strategy", "step", "removed_node", "lcc_fraction", "components",
                             "flow_cut_fraction", "fragmentation"]  # fmt: skip
    handlers = [r for r in rows if r["strategy"] == "money_handlers"]
    assert [r["removed_node"] for r in handlers] == ["", "hub"]
    assert float(handlers[1]["fragmentation"]) == 1.0 and handlers[1]["components"] == "5"
    rec = {(r["strategy"], r["model"]): r for r in read(out / "recovery.csv")}
    assert set(rec) == {(s, m) for s in summary["strategies"] for m in ("pairwise", "takeover")}
    pair = rec[("money_handlers", "pairwise")]
    assert float(pair["lcc_fraction_removed"]) == pytest.approx(1 / 6, abs=1e-6)
    assert float(pair["lcc_fraction_recovered"]) == pytest.approx(5 / 6, abs=1e-6)
    assert pair["components_recovered"] == "1" and pair["new_ties"] == "10"
    assert float(pair["fragmentation_removed"]) == 1.0
    assert float(pair["fragmentation_recovered"]) == 0.0
    assert rec[("money_handlers", "takeover")]["new_ties"] == "4"
    assert rec[("random", "pairwise")]["runs"] == "20"  # one run per random removal order


def test_relink_zero_disables_recovery(tmp_path: Path) -> None:
    out = tmp_path / "o"
    disrupt_graph(star(), k=1, strategies=["degree"], out=out, relink=0.5)
    assert (out / "recovery.csv").exists()
    summary = disrupt_graph(star(), k=1, strategies=["degree"], out=out, relink=0.0)
    assert summary["lcc_fraction_recovered"] == {}
    assert not (out / "recovery.csv").exists()  # no stale file from the earlier run


def test_fixed_strategies_are_checked() -> None:
    with pytest.raises(PalermoError, match="not in the network: nobody"):
        simulate(star(), 1, [], {"final_exploiters": ["nobody"]})
    with pytest.raises(PalermoError, match="is taken"):
        simulate(star(), 1, [], {"degree": ["hub"]})
    with pytest.raises(PalermoError, match="listed twice"):
        simulate(star(), 2, [], {"x": ["hub", "hub"]})
    # a list shorter than k removes only its nodes
    assert len(simulate(star(), 3, [], {"x": ["l1"]})["x"]) == 2


def test_same_input_same_recovery_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        disrupt_graph(star(), k=2, strategies=["degree", "random"], out=tmp_path / name,
                      relink=0.5)  # fmt: skip
    for name in ("strategies.csv", "recovery.csv", "strategies.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def star_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["payer", "payee", "amount"])
        w.writerows(("hub", leaf, 100) for leaf in LEAVES)
    return path


def test_cli_relink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = star_csv(tmp_path / "e.csv")
    rc = main(["network", "disrupt", str(path), "--source", "payer", "--target", "payee",
               "--weight", "amount", "--k", "1", "--strategies", "degree", "--relink", "1",
               "--out", str(tmp_path / "o"), "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lcc_fraction_after_k"]["degree"] == pytest.approx(1 / 6, abs=1e-4)
    assert summary["lcc_fraction_recovered"]["degree"]["pairwise"] == pytest.approx(5 / 6, 1e-3)
    assert (tmp_path / "o" / "recovery.csv").is_file()
    rc = main(["network", "disrupt", str(path), "--k", "1", "--out", str(tmp_path / "p")])
    assert rc == 0 and "after re-linking (pairwise, p=0.5)" in capsys.readouterr().out
    assert main(["network", "disrupt", str(path), "--relink", "2", "--out", str(tmp_path)]) != 0
    assert "--relink 2" in capsys.readouterr().err
    assert main(["network", "disrupt", "--help"]) == 0
    assert "--relink" in capsys.readouterr().out


def test_disrupt_from_file_keeps_notes(tmp_path: Path) -> None:
    path = star_csv(tmp_path / "e.csv")
    with path.open("a", encoding="utf-8") as f:
        f.write("hub,l1,5\n")  # a duplicate tie
    summary = disrupt(path, source="payer", target="payee", k=1, strategies="degree",
                      out=tmp_path / "o", relink=1.0)  # fmt: skip
    assert summary["notes"] and summary["lcc_fraction_recovered"]["degree"]["takeover"] > 0.8


def test_p_zero_recovery_is_the_removal_alone() -> None:
    # two triangles joined through 'mid': removing it leaves two components
    g = graph([("a1", "a2"), ("a2", "a3"), ("a1", "a3"), ("b1", "b2"), ("b2", "b3"),
               ("b1", "b3"), ("a1", "mid"), ("mid", "b1")])  # fmt: skip
    rec = recovery(g, [["mid"]], "pairwise", 0.0)
    h = g.copy()
    h.delete_vertices([h.vs.find(name="mid").index])
    assert rec["fragmentation"] == pytest.approx(fragmentation(h))  # Borgatti's F, the same
    assert (rec["components"], rec["new_ties"], rec["runs"]) == (2, 0, 1)
    assert recovery(g, [["mid"]], "takeover", 1.0)["components"] == 1  # a1 takes over b1
