"""The workspace network of a simulated case the role model was not trained on (mixed-transnational,
tiny, seed 7; the model saw seeds 1-3): roles and cells scored against the ground truth, and the
commands as the issue spells them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from palermo.api_python import Workspace
from palermo.cli import main
from palermo.network.roles import FEATURES, shipped_model
from palermo.simulate import simulate


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("simnet")
    simulate("mixed-transnational", "tiny", 7, d / "case")
    with Workspace.open(d / "ws", create=True, actor="t") as ws:
        ws.ingest_manifest(d / "case")
        ws.resolve()
    return d / "case", d / "ws"


def test_roles_and_cells_against_truth(
    sim: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    case, ws = sim
    rc = main(["network", "evaluate", "--truth", str(case / "truth"), "-w", str(ws), "--json"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    # measured 0.956 with the shipped model; a regression guard, not the figure itself
    assert m["role_macro_f1"] >= 0.85
    assert m["roles"]["victim"]["recall"] >= 0.9
    assert m["roles"]["exploiter"]["recall"] >= 0.8
    assert m["persons_with_a_role_found"] >= 0.9 * m["persons_in_truth_with_a_role"]
    # criminal cells (inside the suspects' network) recover the true cells better than the
    # whole graph's communities do
    assert m["cells_ari"] > m["communities_ari"]
    assert m["cells_nmi"] > m["communities_nmi"]


def test_analyze_and_disrupt_the_case(sim: tuple[Path, Path], tmp_path: Path) -> None:
    _, ws = sim
    assert main(["network", "analyze", "-w", str(ws), "--out", str(tmp_path / "net")]) == 0
    nodes = list(csv.DictReader((tmp_path / "net" / "nodes.csv").open(encoding="utf-8")))
    roles = {r["role"] for r in nodes}
    assert {"victim", "exploiter", "money_handler", "recruiter", "transporter"} <= roles
    for r in nodes:
        if r["role"] != "none":
            assert r["role_features"]  # every role says which features drove it
    cells = list(csv.DictReader((tmp_path / "net" / "cells.csv").open(encoding="utf-8")))
    assert cells and all(c["roles"] for c in cells)
    rc = main(["network", "disrupt", "-w", str(ws), "--k", "5", "--strategies", "all",
               "--out", str(tmp_path / "dis")])  # fmt: skip
    assert rc == 0
    rows = list(csv.DictReader((tmp_path / "dis" / "strategies.csv").open()))
    final = {r["strategy"]: float(r["lcc_fraction"]) for r in rows if r["step"] == "5"}
    # "target the network, not the small fish": the key-player set fragments the suspects'
    # network more than removing the final exploiters does, and both beat random arrests
    assert final["key_player"] < final["final_exploiters"]
    assert final["key_player"] < final["random"]
    # money that can reach the beneficiaries (max-flow), per strategy and step
    cut = list(csv.DictReader((tmp_path / "dis" / "money_cut.csv").open()))
    assert {"beneficiary_cut", "final_exploiters", "money_flow"} <= {r["strategy"] for r in cut}
    start = [r for r in cut if r["step"] == "0"]
    assert len({r["money_to_beneficiaries"] for r in start}) == 1  # one baseline
    assert all(float(r["cut_fraction"]) == 0 for r in start)
    assert all(0 <= float(r["cut_fraction"]) <= 1 for r in cut)
    last: dict[str, float] = {}
    for r in cut:  # each strategy's last step (a role may have fewer than k nodes)
        last[r["strategy"]] = float(r["cut_fraction"])
    assert last["money_handlers"] > last["final_exploiters"]  # the money goes past the exploiters
    with Workspace.open(ws) as w:
        kinds = {row["kind"] for row in w.sql("SELECT DISTINCT kind FROM findings").to_pylist()}
        victims = w.findings("network.role.victim")
        names = {
            r["value"]
            for r in w.sql(
                "SELECT value FROM statements WHERE prop = 'name' AND schema = 'Person'"
            ).to_pylist()
        }
    # who may be a victim is named by pseudonym in the stored finding, never by name
    assert victims and all("(V-" in f["explanation"] for f in victims)
    assert not any(n in f["explanation"] for f in victims for n in names if len(n) > 6)
    assert {
        "network.key_player",
        "network.broker",
        "network.cell",
        "network.role.exploiter",
    } <= kinds


def test_shipped_model_matches_the_features() -> None:
    model = shipped_model()
    assert model.features == FEATURES
    assert model.trained_on["seeds"] and 7 not in model.trained_on["seeds"]


def test_follow_the_money_of_the_case(
    sim: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """finance trace, proceeds and evaluate on the simulated case, as the README spells them."""
    case, ws = sim
    assert main(["network", "analyze", "-w", str(ws), "--out", str(tmp_path / "net")]) == 0
    capsys.readouterr()
    rc = main(["finance", "evaluate", str(case), "-w", str(ws), "--json"])
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    taken = m["proceeds"]["victims_taken"]
    # measured -1% (317,813 EUR of 320,028 EUR for 44 victims); a regression guard
    assert taken["matched"] >= 30 and abs(taken["total_error"]) < 0.3
    got = m["proceeds"]["suspects_received_in_bank_data"]
    assert got["matched"] >= 5 and got["ours_eur"] > 0.4 * got["truth_eur"]
    assert m["accounts"]["model"]["precision"] >= 0.9  # the scorer, held-out seed
    # the boss's money, forward: it ends in assets, in the country of origin
    boss = next(
        r
        for r in csv.DictReader((case / "truth" / "persons.csv").open(encoding="utf-8"))
        if r["role"] == "boss"
    )
    name = f"{boss['given_name']} {boss['family_name']}"
    rc = main(["finance", "trace", "-w", str(ws), "--from", name, "--rates",
               str(case / "fx_rates.csv"), "--out", str(tmp_path / "trail"), "--json"])  # fmt: skip
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["conserved"] and s["terminals_eur"].get("asset", 0) > 0
    assert any(c["kind"] == "asset" and c["country"] == boss["nationality"]
               for c in s["by_country"])  # fmt: skip
