"""``palermo victims indicators`` and ``palermo victims screen``: the ILO/EC operational indicators
of trafficking (Delphi 2009) as data (``indicators.yml``) and their combination rule, applied to
a structured interview record. Never a black box: the output names, per dimension, the
indicators present and the clause of the rule that made the dimension positive.

The rule (``../shared/DOMAIN.md`` §2, citing the brochure's p. 3; its wording not re-read):

    positive(dimension) = S >= 2 or (S >= 1 and M + W >= 1) or M >= 3 or (M >= 2 and W >= 1)
    adult: (dr or cr or vr) and ex and (cd or vd)        child: (dr or cr or vr) and ex

A weak indicator alone, or one medium and one weak, never makes a dimension positive. The
decision is ``victim`` when the rule holds, ``possible`` when it does not but a dimension is
positive or a strong indicator is present (this project's rule for outreach, not the
brochure's), else ``not-indicated``. It means "indicators present", never a legal finding.

Forms: ``labour`` (adult list ``al_``) and ``child-labour`` (``cl_``). The adult and child
sexual-exploitation lists are not shipped: no copy of their tables has been checked, and the
labour lists must not stand in for them (DOMAIN.md); those forms are refused with that reason.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from palermo.errors import PalermoError

CATALOGUE = Path(__file__).with_name("indicators.yml")
FORMS = {"labour": "al", "child-labour": "cl"}
UNAVAILABLE = {"sexual": "as", "child-sexual": "cs"}
STRENGTHS = {"s": "strong", "m": "medium", "w": "weak"}
RECRUITMENT = ("dr", "cr", "vr")
DESTINATION = ("cd", "vd")
RULE = {
    "dimension": "S >= 2 or (S >= 1 and M + W >= 1) or M >= 3 or (M >= 2 and W >= 1)",
    "adult": "(dr or cr or vr) and ex and (cd or vd)",
    "child": "(dr or cr or vr) and ex",
    "possible": "the rule does not hold, but a dimension is positive or a strong indicator is"
    " present (this project's outreach rule, not the brochure's)",
}


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    with CATALOGUE.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def indicators(form: str | None = None) -> list[dict[str, str]]:
    """The catalogue: code, form, list, dimension, dimension_label, strength, label, source."""
    cat = _catalogue()
    lists = {v: k for k, v in FORMS.items()}
    if form is not None and form not in FORMS:
        _refuse(form)
    out = []
    for code, label in cat["indicators"].items():
        lst, dim, strength, _ = code.split("_", 3)
        if form is not None and lists[lst] != form:
            continue
        out.append({
            "code": code, "form": lists[lst], "list": lst, "dimension": dim,
            "dimension_label": cat["dimensions"][dim], "strength": STRENGTHS[strength],
            "label": label, "source": cat["source"],
        })  # fmt: skip
    return out


def _refuse(form: str) -> None:
    if form in UNAVAILABLE:
        raise PalermoError(
            f"form {form!r}: the ILO/EC indicator list for {form.replace('-', ' ')} exploitation"
            " is not shipped (no copy of its table has been checked, and the labour lists must"
            " not stand in for it: ../shared/DOMAIN.md section 2); forms available: "
            + ", ".join(FORMS)
        )
    raise PalermoError(
        f"form {form!r}: one of {', '.join([*FORMS, *UNAVAILABLE])} (available: {', '.join(FORMS)})"
    )


def _clause(s: int, m: int, w: int) -> str | None:
    """The first clause of the dimension rule that holds, or None."""
    if s >= 2:
        return "S >= 2"
    if s >= 1 and m + w >= 1:
        return "S >= 1 and M + W >= 1"
    if m >= 3:
        return "M >= 3"
    if m >= 2 and w >= 1:
        return "M >= 2 and W >= 1"
    return None


def screen(form: str, codes: list[str]) -> dict[str, Any]:
    """The decision per dimension and overall for the indicators present (codes)."""
    if form not in FORMS:
        _refuse(form)
    lst = FORMS[form]
    cat = _catalogue()
    known = cat["indicators"]
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise PalermoError(
            f"unknown indicator code(s): {', '.join(unknown)} (`palermo victims indicators"
            f" --form {form}` lists them)"
        )
    other = [c for c in codes if not c.startswith(lst + "_")]
    if other:
        raise PalermoError(
            f"indicator(s) {', '.join(other)} are not on the {form} list (codes {lst}_...)"
        )
    present = sorted(set(codes), key=codes.index)
    dims: dict[str, dict[str, Any]] = {}
    for dim, name in cat["dimensions"].items():
        mine = [c for c in present if c.split("_")[1] == dim]
        by = {k: [c for c in mine if c.split("_")[2] == k] for k in STRENGTHS}
        clause = _clause(len(by["s"]), len(by["m"]), len(by["w"]))
        dims[dim] = {
            "name": name, "positive": clause is not None, "clause": clause,
            **{STRENGTHS[k]: [{"code": c, "label": known[c]} for c in v] for k, v in by.items()},
        }  # fmt: skip
    pos = {d for d, v in dims.items() if v["positive"]}
    recruitment = [d for d in RECRUITMENT if d in pos]
    child = form.startswith("child")
    holds = bool(recruitment) and "ex" in pos and (child or bool(pos & set(DESTINATION)))
    strong = [c for c in present if c.split("_")[2] == "s"]
    if holds:
        decision, why = "victim", RULE["child" if child else "adult"] + " holds"
    elif pos or strong:
        decision, why = "possible", RULE["possible"]
    else:
        decision, why = (
            "not-indicated",
            "no dimension is positive and no strong indicator is present",
        )
    missing = []
    if not holds:
        if not recruitment:
            missing.append("no recruitment dimension (dr, cr, vr) is positive")
        if "ex" not in pos:
            missing.append("exploitation (ex) is not positive")
        if not child and not pos & set(DESTINATION):
            missing.append(
                "neither coercion (cd) nor abuse of vulnerability at destination (vd) is positive"
            )
    return {
        "form": form,
        "list": lst,
        "decision": decision,
        "why": why,
        "missing": missing,
        "rule": {"dimension": RULE["dimension"], "overall": RULE["child" if child else "adult"]},
        "positive_recruitment_dimensions": recruitment,
        "dimensions": dims,
        "indicators": [
            {
                "code": c,
                "label": known[c],
                "dimension": c.split("_")[1],
                "strength": STRENGTHS[c.split("_")[2]],
            }
            for c in present
        ],
        "ilo_forced_labour": ilo_forced_labour(present),
        "caveat": "indicators present, not a legal finding; the brochure's tables and rule text"
        " were not re-read (DOMAIN.md section 2)",
    }


def ilo_forced_labour(codes: list[str]) -> dict[str, Any]:
    """The ILO's 11 forced-labour indicators (2012) the operational indicators present show,
    each with the codes behind it. The ILO gives no counting rule: listed, not decided."""
    found = []
    for number, ind in _catalogue()["ilo_forced_labour"].items():
        hits = [
            c for c in codes
            if c in ind["from"] or c.split("_")[1] in ind["from"]
        ]  # fmt: skip
        if hits:
            found.append({"number": int(number), "name": ind["name"], "from": hits})
    return {
        "present": found,
        "note": "ILO forced-labour indicators (SAP-FL 2012) shown by the indicators present"
        " (this project's mapping); the ILO gives no counting rule: a list, not a decision",
    }


def read_interview(path: Path) -> tuple[str, list[str]]:
    """An interview record: {"form": ..., "indicators": [codes...]}."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PalermoError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PalermoError(f"{path}: expected an object with form and indicators")
    form, codes = data.get("form"), data.get("indicators")
    if not isinstance(form, str):
        raise PalermoError(f"{path}: field form: missing or not text (one of {', '.join(FORMS)})")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise PalermoError(f"{path}: field indicators: a list of indicator codes is needed")
    return form, codes
