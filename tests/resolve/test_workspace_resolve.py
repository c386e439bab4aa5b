"""`palermo resolve` over a workspace: persons from every source resolved, the review queue with
side-by-side evidence, decisions stored, audited and respected by later runs (a reject undoes a
merge), and the evaluation against the simulator's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import palermo
from palermo.cli import main
from palermo.errors import PalermoError
from palermo.simulate import simulate


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("resolve")
    sim = folder / "case"
    simulate("mixed-transnational", "tiny", 5, sim)
    ws = folder / "ws"
    with palermo.open(ws, create=True) as w:
        w.ingest_manifest(sim)
    return sim, ws


def test_resolve_links_persons_across_sources(case: tuple[Path, Path]) -> None:
    sim, ws = case
    with palermo.open(ws) as w:
        summary = w.resolve()
        clusters = w.resolution()
        metrics = w.evaluate_resolution(sim / "truth")
        audit_actions = [
            r["action"] for r in w.sql("SELECT action FROM audit ORDER BY seq").to_pylist()
        ]
    assert summary["persons"] > 300
    assert summary["merged_pairs"] > 50
    assert summary["clusters"] < summary["persons"]
    assert len(clusters) == summary["persons"] + summary["companies"]  # every entity has a cluster
    assert summary["companies"] > 0 and summary["by_kind"]["Company"]["merged"] > 0
    # against the simulator's truth: few false merges, most true links found
    assert metrics["precision"] > 0.95
    assert metrics["recall"] > 0.85
    assert metrics["f1"] > 0.9
    assert "resolve.run" in audit_actions
    with palermo.open(ws) as w:
        rows = w.sql(
            "SELECT decided_by, deciding_comparison, evidence FROM resolution"
            " WHERE decided_by = 'model' LIMIT 5"
        ).to_pylist()
    assert rows and all(r["deciding_comparison"] for r in rows)
    assert all(json.loads(r["evidence"])["other"] for r in rows)  # the link that decided it


def test_review_queue_and_decisions(case: tuple[Path, Path]) -> None:
    _sim, ws = case
    with palermo.open(ws) as w:
        w.resolve()
        queue = w.review_queue(5)
        assert queue, "the tiny case leaves some pairs to a person"
        item = queue[0]
        assert item["left"]["_sources"] and item["right"]["_sources"]  # file:row evidence
        assert "name" in item["levels"]
        left, right = item["left"]["id"], item["right"]["id"]
        w.decide(left, right, "accept", note="same person, checked the passport")
        w.resolve()
        clusters = w.resolution()
        assert clusters[left] == clusters[right]
        # a merged pair, rejected: split on the next run, and stays split
        merged = w.sql(
            "SELECT left_id, right_id FROM resolution_pairs WHERE status = 'merged'"
            " ORDER BY match_probability LIMIT 1"
        ).to_pylist()[0]
        a, b = merged["left_id"], merged["right_id"]
        w.decide(a, b, "reject")
        w.resolve()
        status = w.sql(
            "SELECT status FROM resolution_pairs WHERE left_id = ? AND right_id = ?", [a, b]
        ).to_pylist()
        assert status == [{"status": "rejected"}]
        w.decide(a, b, "undo")
        w.resolve()
        assert w.resolution()[a] == w.resolution()[b]  # the model decides again
        actions = [r["action"] for r in w.sql("SELECT action FROM audit ORDER BY seq").to_pylist()]
        assert {"resolve.accept", "resolve.reject", "resolve.undo"} <= set(actions)
        with pytest.raises(PalermoError, match="no entity"):
            w.decide(left, "person-does-not-exist", "accept")


def test_cli_resolve_commands(case: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sim, ws = case
    assert main(["resolve", "-w", str(ws), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["persons"] > 0
    assert main(["resolve", "review", "--limit", "2", "-w", str(ws), "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)
    assert len(queue) <= 2
    assert main(["resolve", "evaluate", "--truth", str(sim / "truth"), "-w", str(ws)]) == 0
    assert "B-cubed" in capsys.readouterr().out
    assert main(["resolve", "accept", "x", "y", "-w", str(ws)]) != 0
    assert "no entity" in capsys.readouterr().err


def test_company_names_compare_without_legal_form() -> None:
    from palermo.resolve.companies import company_key, looks_like_organisation

    assert company_key("SMITH FARM LTD") == company_key("Smith Farm Limited") == "smith farm"
    assert company_key("Imobiliare Invest 12 S.R.L.") == "imobiliare invest 12"
    assert looks_like_organisation("Smith Farm Ltd")
    assert not looks_like_organisation("Ion Popescu")  # an account holder who is a person


def test_addresses_written_differently_get_one_id(case: tuple[Path, Path]) -> None:
    from palermo.resolve.addresses import resolve_addresses

    table = resolve_addresses(
        [
            "Str. Mihai Eminescu nr. 5, București",
            "Strada Mihai Eminescu 5 Bucuresti",
            "Strada Mihai Eminescu 7 Bucuresti",  # another house
            "Flat 35, Brown Pass, B4U 7SW East Diane",
            "Flat 36, Brown Pass, B4U 7SW East Diane",  # another flat
        ]
    )
    ids = dict(zip(table["address"].to_pylist(), table["address_id"].to_pylist(), strict=True))
    assert ids["Str. Mihai Eminescu nr. 5, București"] == ids["Strada Mihai Eminescu 5 Bucuresti"]
    assert ids["Strada Mihai Eminescu 5 Bucuresti"] != ids["Strada Mihai Eminescu 7 Bucuresti"]
    assert (
        ids["Flat 35, Brown Pass, B4U 7SW East Diane"]
        != ids["Flat 36, Brown Pass, B4U 7SW East Diane"]
    )
    _sim, ws = case
    with palermo.open(ws) as w:
        summary = w.resolve()
        stored = w.sql("SELECT count(*) AS n FROM address_resolution").to_pylist()[0]["n"]
    assert stored == summary["addresses"] > 0
    assert summary["address_clusters"] <= summary["addresses"]
