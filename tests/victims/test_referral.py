"""Victims' cases along the NRM: the stage rule, consent before referral, deadlines worked out by
hand, compartments, names per role, and the audit of every step."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from palermo.api_python import Workspace
from palermo.cli import main
from palermo.errors import PalermoError
from palermo.store.referral import add_provider
from palermo.victims.referral import open_case, refer, set_consent, set_stage, show


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    with (tmp_path / "ngo.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["note_id", "recorded_at", "source", "title", "text", "person_name",
                    "person_role"])  # fmt: skip
        w.writerow(["N1", "2024-05-01T10:00:00Z", "hotline", "call", "passport kept",
                    "Mara Lupu", "possible victim"])  # fmt: skip
    with Workspace.open(tmp_path / "ws", create=True) as w:
        w.ingest(tmp_path / "ngo.csv", mapping="notes", compartment="victim-support")
        add_provider(w.store, "Safe House North", ["shelter", "legal"], "North", "+44 1")
    return tmp_path / "ws"


def test_the_path_of_a_case(ws: Path) -> None:
    with Workspace.open(ws) as w:
        s = w.store
        c = open_case(s, "Mara Lupu", date(2024, 5, 1))
        cid = c["case_id"]
        assert c["stage"] == "detected" and c["label"] == "Mara Lupu" and cid == "VC-000001"
        set_stage(s, cid, "screened", date(2024, 5, 2))
        # Friday 3 May 2024: five working days later is Friday 10 May
        v = set_stage(s, cid, "referred", date(2024, 5, 3), today=date(2024, 5, 13))
        [due] = v["deadlines"]
        assert due["due"] == "2024-05-10" and due["overdue"] is True
        with pytest.raises(PalermoError, match="can go to rg_positive, rg_negative, closed"):
            set_stage(s, cid, "cg_positive", date(2024, 5, 6))
        with pytest.raises(PalermoError, match="at least 30"):
            set_stage(s, cid, "rg_positive", date(2024, 5, 8), reflection_days=20)
        with pytest.raises(PalermoError, match="before the case's last event"):
            set_stage(s, cid, "rg_positive", date(2024, 5, 1))
        v = set_stage(s, cid, "rg_positive", date(2024, 5, 8), by="Competent Authority",
                      reflection_days=45, today=date(2024, 6, 1))  # fmt: skip
        [period] = v["deadlines"]
        assert period["until"] == "2024-06-22" and period["running"] is True
        assert v["stages"][-1]["decided_by"] == "Competent Authority"
        # referral needs consent, given and not revoked
        with pytest.raises(PalermoError, match="no consent to a referral recorded"):
            refer(s, cid, "Safe House North")
        set_consent(s, cid, True, date(2024, 5, 8))
        with pytest.raises(PalermoError, match="offers shelter, legal, not health"):
            refer(s, cid, "Safe House North", service="health")
        with pytest.raises(PalermoError, match="no provider"):
            refer(s, cid, "Nobody")
        v = refer(s, cid, "Safe House North", date(2024, 5, 9), service="shelter")
        assert v["referrals"] == [{"provider": "Safe House North", "on": "2024-05-09",
                                   "service": "shelter"}]  # fmt: skip
        set_consent(s, cid, False, date(2024, 5, 20), note="wants no contact")
        with pytest.raises(PalermoError, match=r"\(revoked\)"):
            refer(s, cid, "Safe House North")
        v = set_stage(s, cid, "cg_positive", date(2024, 7, 1))
        assert v["consent"] == "revoked" and len(v["referrals"]) == 1  # history kept
        set_stage(s, cid, "closed", date(2024, 8, 1))
        v = set_stage(s, cid, "screened", date(2024, 9, 1))  # reopened
        assert v["stage"] == "screened"
        with pytest.raises(PalermoError, match="unknown stage"):
            set_stage(s, cid, "rescued")
        with pytest.raises(PalermoError, match="already"):
            add_provider(s, "Safe House North", ["shelter"], None, None)
        log = [r["action"] for r in w.sql("SELECT action FROM audit ORDER BY seq").to_pylist()]
    for action in ("victims.case.open", "victims.case.stage", "victims.case.consent",
                   "victims.case.referral", "victims.case.read", "victims.reveal"):  # fmt: skip
        assert action in log, action


def test_compartments_and_roles(ws: Path) -> None:
    with Workspace.open(ws, compartments={"victim-support"}, role="victim-support") as w:
        cid = open_case(w.store, "Mara Lupu")["case_id"]
    with (
        Workspace.open(ws, compartments={"police"}, role="investigator") as w,
        pytest.raises(PalermoError, match="no case"),
    ):
        show(w.store, cid)
    with Workspace.open(ws, compartments={"victim-support"}, role="analyst") as w:
        v = show(w.store, cid)
        assert v["label"].startswith("V-")
        with pytest.raises(PalermoError, match="pseudonym"):
            open_case(w.store, "Mara Lupu")
        again = open_case(w.store, v["label"])  # by pseudonym
    assert again["person"] == v["person"]


def test_cli(ws: Path) -> None:
    w = ["-w", str(ws)]
    assert main(["victims", "case", "open", "Mara Lupu", "--on", "2024-05-01", *w]) == 0
    assert (
        main(["victims", "case", "stage", "VC-000001", "screened", "--on", "2024-05-02", *w]) == 0
    )
    assert main(["victims", "case", "consent", "VC-000001", "--give", *w]) == 0
    assert (
        main(["victims", "case", "refer", "VC-000001", "--provider", "Safe House North", *w]) == 0
    )
    assert main(["victims", "case", "show", "VC-000001", "--json", *w]) == 0
    assert main(["victims", "case", "list", *w]) == 0
    assert main(["victims", "case", "stage", "VC-000001", "compensation", *w]) != 0
    assert main(["victims", "provider", "add", "Legal Aid", "--service", "legal", *w]) == 0
    assert main(["victims", "provider", "list", "--service", "legal", "--json", *w]) == 0
