"""``palermo victims evaluate``: the leads of ``victims leads`` against a simulated case's truth.

Each workspace person is matched to the true person its evidence names most often
(``network.evaluate.true_persons``: mentions, phones, accounts). Precision: share of leads that
are true victims (``truth/victims.csv``). Recall is given twice: over the true victims the
workspace holds at all (a node maps to them), and over every true victim of the case (many never
appear in any source). The same per signal kind, so one can see which signal carries the leads.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from palermo.errors import PalermoError
from palermo.network.evaluate import true_persons
from palermo.store.graph import LAYERS, graph_tables
from palermo.store.workspace import Store
from palermo.victims.leads import SIGNALS, LeadParams, find_leads


def _victims(truth: Path) -> set[str]:
    path = Path(truth) / "victims.csv"
    if not path.is_file():
        raise PalermoError(f"{path}: not found (give the truth/ folder of a simulated case)")
    with path.open(encoding="utf-8", newline="") as f:
        return {r["person_id"] for r in csv.DictReader(f)}


def evaluate_leads(
    store: Store, truth: Path, *, out: Path | None = None, params: LeadParams | None = None
) -> dict[str, Any]:
    victims = _victims(truth)
    result = find_leads(store, out=out, params=params)
    person_of = true_persons(store, graph_tables(store, list(LAYERS)), Path(truth))
    seen = {t for t in person_of.values() if t in victims}
    leads = _all_rows(out) if out is not None else None
    rows = leads if leads is not None else result["top"]
    lead_people = [r for r in rows if str(r["lead"]) == "True"]

    def score(chosen: list[dict[str, Any]]) -> dict[str, Any]:
        found = {person_of.get(r["person"]) for r in chosen}
        tp = {t for t in found if t in victims}
        hits = sum(1 for r in chosen if person_of.get(r["person"]) in victims)
        return {
            "leads": len(chosen),
            "true_victims": hits,
            "precision": round(hits / len(chosen), 4) if chosen else None,
            "recall_seen": round(len(tp) / len(seen), 4) if seen else None,
            "recall_all": round(len(tp) / len(victims), 4) if victims else None,
        }

    overall = score(lead_people)
    # per signal: among the leads, and over everyone the signal points to (its own precision)
    by_signal = {
        k: {
            "among_leads": score([r for r in lead_people if f"{k}:" in r["signals"]]),
            "everyone_with_it": score([r for r in rows if f"{k}:" in r["signals"]]),
        }
        for k in SIGNALS
    }
    return {
        "victims_in_truth": len(victims),
        "victims_in_workspace": len(seen),
        **overall,
        "by_signal": by_signal,
        "non_punishment": result["non_punishment"],
        "params": result["params"],
    }


def _all_rows(out: Path) -> list[dict[str, Any]]:
    with (Path(out) / "leads.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
