"""The workspace network on a hand-made case whose cells, broker and key player are known by
construction: two cells of five persons (each cell calls within itself, cell A shares a house),
one broker who calls both cells and pays them, an unknown phone, a cash withdrawal, and a second
compartment the scoped reader must not see."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from palermo.api_python import Workspace
from palermo.cli import main
from palermo.network.workspace import analyse, analyse_workspace, build_network
from palermo.store import findings as F
from palermo.store.graph import parse_layers

A = [f"A{i}" for i in range(5)]
B = [f"B{i}" for i in range(5)]
NAMES = {
    "A0": "Ion Popescu", "A1": "Maria Ionescu", "A2": "Vasile Dumitru", "A3": "Elena Stan",
    "A4": "Gheorghe Radu", "B0": "Nicolae Marin", "B1": "Ana Tudor", "B2": "Mihai Stoica",
    "B3": "Ioana Dobre", "B4": "Florin Matei", "X": "Xavier Broker",
}  # fmt: skip
PHONE = {p: f"+4477009000{i:02d}" for i, p in enumerate([*A, *B, "X", "N"])}
UNKNOWN = "+447700900099"
IBAN = {"X": "GB82WEST12345698765432", "A0": "GB33BUKB20201555555555",
        "B0": "DE89370400440532013000"}  # fmt: skip


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("netcase")
    persons = [
        [p, NAMES[p], PHONE[p], "1 High Street" if p in A else f"{i} Mill Lane", "Leeds", "GB"]
        for i, p in enumerate([*A, *B, "X"])
    ]
    _write(d / "persons.csv", ["id", "full_name", "phone", "address", "city", "country"], persons)
    calls = []
    n = 0
    for cell in (A, B):
        for a, b in itertools.combinations(cell, 2):
            for k in range(3):
                n += 1
                calls.append([PHONE[a], PHONE[b], f"2024-02-{k + 1:02d}T10:{n % 60:02d}:00Z", "60"])
    for other in ("A0", "A1", "B0", "B1"):  # the broker appears in June only
        for k in range(4):
            calls.append([PHONE["X"], PHONE[other], f"2024-06-{k + 1:02d}T21:00:00Z", "30"])
    calls.append([UNKNOWN, PHONE["A1"], "2024-02-10T12:00:00Z", "10"])
    _write(d / "calls.csv", ["caller", "callee", "start_time", "duration_s"], calls)
    pays = [
        ["TX1", "2024-06-02T09:00:00Z", IBAN["X"], IBAN["A0"], "900", "GBP", NAMES["X"], NAMES["A0"]],
        ["TX2", "2024-06-03T09:00:00Z", IBAN["X"], IBAN["B0"], "800", "EUR", NAMES["X"], NAMES["B0"]],
        ["TX3", "2024-06-04T09:00:00Z", IBAN["X"], "CASH-GB1", "500", "GBP", NAMES["X"], "ATM"],
    ]  # fmt: skip
    _write(
        d / "payments.csv",
        ["transaction_id", "timestamp", "from_account", "to_account", "amount", "currency",
         "from_name", "to_name"],
        pays,
    )  # fmt: skip
    # another agency's compartment: a person calling the broker
    _write(d / "ngo_persons.csv", ["id", "full_name", "phone"], [["N", "Nadia Secret", PHONE["N"]]])
    _write(
        d / "ngo_calls.csv",
        ["caller", "callee", "start_time", "duration_s"],
        [[PHONE["N"], PHONE["X"], "2024-06-05T10:00:00Z", "20"]],
    )
    ws_path = d / "ws"
    with Workspace.open(ws_path, create=True, actor="t") as ws:
        ws.ingest(d / "persons.csv", mapping="persons", compartment="police")
        ws.ingest(d / "calls.csv", mapping="calls", compartment="police")
        ws.ingest(d / "payments.csv", mapping="payments", compartment="police")
        ws.ingest(d / "ngo_persons.csv", mapping="persons", compartment="ngo")
        ws.ingest(d / "ngo_calls.csv", mapping="calls", compartment="ngo")
        ws.resolve()
    return ws_path


def _node_of(net_names: list[str], labels: list[str], person: str) -> int:
    return labels.index(NAMES[person])


def test_graph_nodes_are_resolved_entities_with_layers(case: Path) -> None:
    with Workspace.open(case, compartments={"police"}) as ws:
        net = build_network(ws.store)
    g = net.graph
    labels = g.vs["label"]
    # every person is one node; calls were attached to them through their phones
    for p in [*A, *B, "X"]:
        assert labels.count(NAMES[p]) == 1, p
    assert f"phone:{UNKNOWN}" in net.names  # a phone nobody holds is a node of its own
    assert "Nadia Secret" not in labels  # the other compartment is not read
    assert not any(PHONE["N"] in n for n in net.names)
    x = labels.index(NAMES["X"])
    a0 = labels.index(NAMES["A0"])
    e = g.es[g.get_eid(x, a0)]
    # the broker's bank account holder is the person of that name: calls and payment on one tie
    assert e["layers"] == "calls;payments"
    assert e["amount"] == pytest.approx(900.0)
    i, j = labels.index(NAMES["A1"]), labels.index(NAMES["A2"])
    assert "shared_address" in g.es[g.get_eid(i, j)]["layers"]
    assert not any(n.upper().startswith("ACCOUNT:CASH") for n in net.names)
    assert any("CASH" in note for note in net.tables.notes)
    assert any("unique person of that name" in note for note in net.tables.notes)


def test_cells_broker_key_player_and_findings(case: Path, tmp_path: Path) -> None:
    with Workspace.open(case, compartments={"police"}) as ws:
        summary = analyse_workspace(ws.store, out=tmp_path / "net", key_player_k=2)
        stored = F.read(ws.store, "network.")
    nodes = {r["label"]: r for r in csv.DictReader((tmp_path / "net" / "nodes.csv").open())}
    assert len({nodes[NAMES[p]]["community"] for p in A}) == 1
    assert len({nodes[NAMES[p]]["community"] for p in B}) == 1
    assert nodes[NAMES["A0"]]["community"] != nodes[NAMES["B0"]]["community"]
    assert nodes[NAMES["X"]]["key_player_rank"] == "1"
    x_node = nodes[NAMES["X"]]["node"]
    assert summary["key_players"][0] == x_node
    assert summary["findings_stored"] == len(stored)
    kinds = {f["kind"] for f in stored}
    assert {"network.key_player", "network.broker"} <= kinds
    # calls and payments are two kinds of source: too few for the role model, so no role (and
    # no criminal cell) is asserted, and the summary says why
    assert not any(k.startswith("network.role") or k == "network.cell" for k in kinds)
    assert any("roles held back" in n for n in summary["notes"])
    assert {r["role"] for r in nodes.values()} == {"none"}
    kp = next(
        f for f in stored if f["kind"] == "network.key_player" and f["subject_ids"] == [x_node]
    )
    ties = kp["evidence"][0]["ties"]
    rows = [r for t in ties for r in t["rows"]]
    assert any(r.startswith("calls.csv:") for r in rows)  # the calls that show it, by file:row
    assert any(r.startswith("payments.csv:") for r in rows)
    broker = next(f for f in stored if f["kind"] == "network.broker")
    assert broker["subject_ids"] == [x_node]
    assert kp["compartment"] == "police"
    cells = list(csv.DictReader((tmp_path / "net" / "communities.csv").open()))
    cell_a = next(c for c in cells if c["community"] == nodes[NAMES["A0"]]["community"])
    assert cell_a["countries"] == "GB"
    # roles: every node has a probability distribution that sums to one
    for r in csv.DictReader((tmp_path / "net" / "roles.csv").open()):
        assert sum(float(v) for k, v in r.items() if k != "node") == pytest.approx(1, abs=1e-3)


def test_findings_are_compartmented(case: Path, tmp_path: Path) -> None:
    with Workspace.open(case, compartments={"police"}) as ws:
        ws.analyze_network(tmp_path / "p", key_player_k=1)
        mine = ws.findings("network.key_player")
        assert len(mine) == 1 and mine[0]["code_version"]
        assert (
            ws.store.engine.rows("SELECT count(*) FROM audit WHERE action = 'findings.replace'")[0][
                0
            ]
            >= 1
        )
    with Workspace.open(case, compartments={"ngo"}) as ws:
        assert F.read(ws.store, "network.") == []  # drawn from police data: not for the NGO
    with Workspace.open(case, compartments={"ngo", "police"}) as ws:
        assert F.read(ws.store, "network.")  # holds every compartment it was drawn from


def test_time_window_and_single_layers(case: Path) -> None:
    with Workspace.open(case, compartments={"police"}) as ws:
        from datetime import UTC, datetime

        before = build_network(ws.store, until=datetime(2024, 5, 1, tzinfo=UTC))
        calls_only = build_network(ws.store, layers=parse_layers("calls"))
    labels = before.graph.vs["label"]
    x = labels.index(NAMES["X"])
    assert before.graph.degree(x) == 0  # the broker's calls and payments are all in June
    assert set(calls_only.graph.es["layers"]) == {"calls"}
    with pytest.raises(Exception, match="unknown layer"):
        parse_layers("calls,telepathy")


def test_cli_analyze_build_workspace(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    rc = main(["network", "analyze", "-w", str(case), "--out", str(out), "--key-players", "2",
               "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nodes"] >= 12 and (out / "edges.csv").is_file()
    rc = main(["network", "build", "-w", str(case), "--layers", "calls", "--out", str(out / "b")])
    assert rc == 0
    ties = list(csv.DictReader((out / "b" / "ties.csv").open()))
    assert {t["layer"] for t in ties} == {"calls"}
    assert all(t["evidence"] for t in ties)
    rc = main(["network", "analyze", "-w", str(case), "--since", "yesterday", "--out", str(out)])
    assert rc != 0
    assert "--since 'yesterday'" in capsys.readouterr().err
    rc = main(["network", "analyze", "edges.csv", "--out", str(out)])
    assert rc != 0
    assert "--source and --target" in capsys.readouterr().err


def test_analysis_is_deterministic(case: Path) -> None:
    with Workspace.open(case, compartments={"police"}) as ws:
        one = analyse(ws.store)
        two = analyse(ws.store)
    assert one.membership == two.membership
    assert one.key_players == two.key_players
    assert (one.probs == two.probs).all()


def test_disrupt_workspace_money_flow_and_timeline(case: Path, tmp_path: Path) -> None:
    from palermo.network.workspace import disrupt_workspace, timeline_workspace

    with Workspace.open(case, compartments={"police"}) as ws:
        summary = disrupt_workspace(
            ws.store, out=tmp_path / "dis", k=2, focus="all", relink=0.5,
            strategies="degree,key_player,money_flow,final_exploiters",
        )  # fmt: skip
        tl = timeline_workspace(ws.store, out=tmp_path / "tl", period="month")
    # the broker moved all the money: the money-flow strategy removes him first
    assert summary["removed"]["money_flow"][0] == NAMES["X"]
    rows = list(csv.DictReader((tmp_path / "dis" / "strategies.csv").open()))
    money = [r for r in rows if r["strategy"] == "money_flow"]
    assert float(money[1]["flow_cut_fraction"]) == pytest.approx(1.0)  # all of it on his ties
    kp = [r for r in rows if r["strategy"] == "key_player"]
    assert float(kp[1]["lcc_fraction"]) < float(kp[0]["lcc_fraction"])
    assert (tmp_path / "dis" / "recovery.csv").is_file()
    # nobody here is an organiser or owns assets: no money to beneficiaries to cut, and it says so
    assert any("beneficiar" in n for n in summary["notes"])
    assert not (tmp_path / "dis" / "money_cut.csv").exists()
    # calls in February and June: two months with ties; the broker is only in June
    periods = list(csv.DictReader((tmp_path / "tl" / "periods.csv").open()))
    assert [p["period"] for p in periods] == ["2024-02", "2024-06"]
    assert tl["periods"] == 2
    with (
        Workspace.open(case, compartments={"police"}) as ws,
        pytest.raises(Exception, match="strategy"),
    ):
        disrupt_workspace(ws.store, out=tmp_path / "x", strategies="arrest_everyone")


def test_empty_workspace_and_bad_truth_are_refused_clearly(
    tmp_path: Path, case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    assert main(["init", str(empty)]) == 0
    capsys.readouterr()
    for cmd in (["analyze"], ["disrupt"], ["timeline"], ["build"]):
        rc = main(["network", *cmd, "-w", str(empty), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        if cmd == ["build"]:  # an empty network is still a set of (empty) tables
            assert rc == 0
            continue
        assert rc != 0 and "Traceback" not in err and err.startswith("palermo: error:"), (cmd, err)
    rc = main(["network", "evaluate", "--truth", str(tmp_path / "nowhere"), "-w", str(case)])
    err = capsys.readouterr().err
    assert rc != 0 and "mentions.csv: not found" in err


def test_reading_victim_findings_is_audited(case: Path, tmp_path: Path) -> None:
    from palermo.store import findings as F

    with Workspace.open(case, compartments={"police"}) as ws:
        ws.analyze_network(tmp_path / "n", key_player_k=1)
        F.replace(ws.store, "network.role.victim", [F.Finding(
            "network.role.victim", ["person-x"], 0.9, "a possible victim (test)")], {})  # fmt: skip
        before = ws.store.engine.rows(
            "SELECT count(*) FROM audit WHERE action = 'findings.read_victims'"
        )[0][0]
        assert ws.findings("network.role.victim")
        ws.findings("network.key_player")  # no victim in it: nothing to audit
        after = ws.store.engine.rows(
            "SELECT count(*) FROM audit WHERE action = 'findings.read_victims'"
        )[0][0]
        assert after == before + 1
        assert ws.verify_audit().ok
