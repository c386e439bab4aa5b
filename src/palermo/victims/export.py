"""``palermo victims export``: the possible victims of ``victims leads`` as case records in the IOM
Human Trafficking Case Data Standard (HTCDS v2.0) layout, and as counts for reporting with small
cells suppressed (``report.suppression``: k >= 10 by default, secondary suppression included).

Case records (``htcds.csv``), one per lead, columns named by HTCDS's prefixes (``prs_`` person,
``vic_`` victim context; ``../shared/DOMAIN.md`` section 4): identifier (the workspace
pseudonym), name (only for roles that see victims' names; else empty), birth date, gender
(Feminine / Masculine / NonSpecifiedUnknown), citizenship, trafficking status ``Possible`` (a
lead, not a decision), methods of control (HTCDS codes, from the indicators found: e.g.
``al_cd_s_documents`` -> ``WithholdsDocuments``, wages for another -> ``TakesEarnings``), type
of exploitation (``ForcedLabour`` where an employer or wages are in the evidence, else empty:
not known), forced-labour industry (ISIC section of the employer's sector in HTCDS's
``F_Construction`` form; the other section names follow that pattern, unverified against the
code list). The field names beyond the prefixes are this project's reading of the standard.

Counts (``aggregates.csv``): by sex, age group (CTDC's ``ageBroad`` bins, age on ``as_of``),
citizenship and form of exploitation, every cell, margin and the total, ``count`` empty where
suppressed and ``suppressed`` marking it (not why: saying which suppressed counts are below k
would narrow the others). Every export is audited (``victims.export``).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

from palermo.report.suppression import suppress
from palermo.store import audit
from palermo.store import findings as F
from palermo.store.victims import pseudonym, reveal, victim_tables
from palermo.store.workspace import Store

CONTROL = {
    "al_cd_s_documents": "WithholdsDocuments",
    "al_cr_m_documents": "WithholdsDocuments",
    "al_cd_s_debt_bondage": "DebtBondage",
    "al_cr_m_debt_bondage": "DebtBondage",
    "al_cd_s_isolation": "RestrictsMovement",
    "al_cr_m_isolation": "RestrictsMovement",
    "al_cd_s_violence": "PhysicalAbuse",
    "al_cr_s_violence": "PhysicalAbuse",
    "al_cd_m_violence_threat": "PhysicalThreats",
    "al_cr_m_violence_threat": "PhysicalThreats",
    "al_cd_m_family_violence": "ThreatensChildrenFamily",
    "al_cd_m_denunciation_threat": "ThreatsLawEnforcement",
    "al_cr_m_denunciation_threat": "ThreatsLawEnforcement",
    "al_cd_m_wages_withheld": "TakesEarnings",
    "al_cr_m_money_withheld": "TakesEarnings",
    "al_ex_s_excessive_hours": "ExcessiveWorkingHours",
    "al_dr_s_nature_of_job": "FalsePromises",
    "al_dr_m_wages": "FalsePromises",
    "al_dr_m_work_conditions": "FalsePromises",
}
SIGNAL_CONTROL = {"wages_for_another": "TakesEarnings", "wages_passed_on": "TakesEarnings"}
INDUSTRY = {  # the registry's sector -> ISIC Rev.4 section, HTCDS style
    "agriculture": "A_Agriculture",
    "fishing": "A_Agriculture",
    "food_processing": "C_Manufacturing",
    "textiles": "C_Manufacturing",
    "construction": "F_Construction",
    "retail": "G_WholesaleRetail",
    "car_wash": "G_WholesaleRetail",
    "logistics": "H_TransportationStorage",
    "hospitality": "I_AccommodationFood",
    "restaurant": "I_AccommodationFood",
    "nail_bar": "S_OtherServices",
    "services": "S_OtherServices",
    "domestic": "T_HouseholdsAsEmployers",
}
GENDER = {"female": "Feminine", "f": "Feminine", "male": "Masculine", "m": "Masculine"}
AGE_BINS = ((0, 8), (9, 17), (18, 20), (21, 23), (24, 26), (27, 29), (30, 38), (39, 47))
DIMENSIONS = ["sex", "age_group", "citizenship", "exploitation"]


def lead_signals(lead: dict[str, Any]) -> set[str]:
    """The signals (``wages_for_another``, ...) a ``victims.lead`` finding was drawn from."""
    ev = (lead["evidence"] or [{}])[0]
    return {s["signal"] for s in ev.get("signals", [])}


def is_labour(node: str, lead: dict[str, Any], sectors: dict[str, str]) -> bool:
    """Forced labour as HTCDS's type of exploitation: an employer with a sector is in the
    evidence, or wages taken (the other forms have no signal in the data: left unknown)."""
    return node in sectors or bool(lead_signals(lead) & set(SIGNAL_CONTROL))


def age_group(birth: str | None, as_of: date) -> str:
    try:
        b = date.fromisoformat(str(birth)[:10])
    except ValueError:
        return "unknown"
    age = as_of.year - b.year - ((as_of.month, as_of.day) < (b.month, b.day))
    if age < 0:
        return "unknown"
    for lo, hi in AGE_BINS:
        if lo <= age <= hi:
            return f"{lo}-{hi}"
    return "48+"


def export_victims(
    store: Store, out: Path, *, k: int = 10, as_of: date | None = None,
    suppress_zeros: bool = False,
) -> dict[str, Any]:  # fmt: skip
    if k < 1:
        from palermo.errors import PalermoError

        raise PalermoError(f"--k {k}: must be at least 1")
    as_of = as_of or date.today()
    leads = F.read(store, "victims.lead")
    names = store.scope.sees_victim_names
    records, agg = victim_records(store, leads, as_of)
    table = suppress(agg, DIMENSIONS, k=k, suppress_zeros=suppress_zeros)
    rows = table.rows(reasons=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "htcds.csv", list(records[0]) if records else list(_EMPTY), records)
    _write(out / "aggregates.csv", [*DIMENSIONS, "count", "suppressed"], rows)
    if names:
        reveal(store, [f["subject_ids"][0] for f in leads], "victims.export")
    summary = {
        "records": len(records),
        "k": k,
        "as_of": as_of.isoformat(),
        "cells": len(table.cells),
        "suppressed_cells": len(table.hidden_cells),
        "suppressed_margins": len(table.hidden_margins),
        "total_suppressed": table.total_hidden,
        "names": "shown" if names else "pseudonyms only",
    }
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "victims.export", str(out),
                     {**summary, "role": store.scope.role})  # fmt: skip
    return summary


def victim_records(
    store: Store, leads: list[dict[str, Any]], as_of: date, purpose: str = "victims.export"
) -> tuple[list[dict[str, Any]], list[tuple[str, ...]]]:
    """The HTCDS case record of each lead and its tuple of ``DIMENSIONS`` (sex, age group on
    ``as_of``, citizenship, form of exploitation), in the leads' subject order."""
    vt = victim_tables(store, purpose)
    person = {r["node"]: r for r in vt.labels.to_pylist()}
    sector: dict[str, str] = {}
    for e in vt.employments.to_pylist():
        if e["sector"]:
            sector.setdefault(e["employee"], e["sector"])
    names = store.scope.sees_victim_names
    records: list[dict[str, Any]] = []
    agg: list[tuple[str, ...]] = []
    for f in sorted(leads, key=lambda f: f["subject_ids"][0]):
        node = f["subject_ids"][0]
        p = person.get(node, {})
        ev = (f["evidence"] or [{}])[0]
        sc = ev.get("screening") or {}
        codes = [i["code"] for i in sc.get("indicators", [])]
        kinds = lead_signals(f)
        controls = sorted({CONTROL[c] for c in codes if c in CONTROL}
                          | {SIGNAL_CONTROL[k2] for k2 in kinds if k2 in SIGNAL_CONTROL})  # fmt: skip
        labour = is_labour(node, f, sector)
        gender = GENDER.get(str(p.get("gender") or "").lower(), "NonSpecifiedUnknown")
        records.append({
            "prs_Identifier": pseudonym(store, node),
            "prs_Name": (p.get("label") or "") if names else "",
            "prs_Birthdate": p.get("birth_date") or "",
            "prs_Gender": gender,
            "prs_Citizenship": p.get("nationality") or "",
            "vic_TraffickingStatus": "Possible",
            "vic_MethodsOfControl": ";".join(controls),
            "vic_TypeOfExploitation": "ForcedLabour" if labour else "",
            "vic_ForcedLabourIndustry": INDUSTRY.get(sector.get(node, ""), ""),
            "palermo_Score": f["score"],
            "palermo_Evidence": f["id"],
        })  # fmt: skip
        agg.append((
            {"Feminine": "female", "Masculine": "male"}.get(gender, "unknown"),
            age_group(p.get("birth_date"), as_of),
            p.get("nationality") or "unknown",
            "forced_labour" if labour else "not_specified",
        ))  # fmt: skip
    return records, agg


_EMPTY = dict.fromkeys(
    ["prs_Identifier", "prs_Name", "prs_Birthdate", "prs_Gender", "prs_Citizenship",
     "vic_TraffickingStatus", "vic_MethodsOfControl", "vic_TypeOfExploitation",
     "vic_ForcedLabourIndustry", "palermo_Score", "palermo_Evidence"]
)  # fmt: skip


def _write(path: Path, names: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows(rows)
