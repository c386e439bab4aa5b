"""``palermo ads evaluate CASE``: campaign recovery on a simulated case's ads against its truth.

The true campaign of an ad (``truth/mentions.csv``: the ad's poster and its label): an escort ad
belongs to the operation (the cell) that posts it, whichever victim it shows; a deceptive job ad
to its poster's cell (``truth/members.csv``), else to its poster; any other ad to its poster.
Scored per mode (text, identifiers, both): pairwise precision and recall over the pairs of ads
put in one campaign, and the adjusted Rand index (scikit-learn) over all ads, singletons
included."""

from __future__ import annotations

import csv
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from palermo.ads.cluster import ClusterParams, cluster
from palermo.errors import PalermoError


def _truth(case: Path) -> dict[int, str]:
    truth = case / "truth"
    if not (truth / "mentions.csv").is_file():
        raise PalermoError(f"{case}: no truth/mentions.csv (a case from `palermo simulate`)")
    cell: dict[str, str] = {}
    with (truth / "members.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            cell.setdefault(r["person_id"], r["cell_id"])
    poster: dict[int, str] = {}
    label: dict[int, str] = {}
    with (truth / "mentions.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["file"] != "ads.csv":
                continue
            if r["role"] == "poster":
                poster[int(r["row"])] = r["true_id"]
            elif r["role"] == "ad_label":
                label[int(r["row"])] = r["true_id"]
    out = {}
    for row, who in poster.items():
        lab = label.get(row, "")
        if lab.startswith("escort_ad:"):
            out[row] = "cell:" + lab.split(":")[1]
        elif lab.startswith("deceptive_job_ad:") and who in cell:
            out[row] = "cell:" + cell[who]
        else:
            out[row] = "poster:" + who
    return out


def _pairs(groups: dict[int, str]) -> set[tuple[int, int]]:
    by: dict[str, list[int]] = defaultdict(list)
    for row, g in groups.items():
        if g:
            by[g].append(row)
    return {(a, b) for rows in by.values() for a, b in combinations(sorted(rows), 2)}


def evaluate(case: Path, out: Path, params: ClusterParams | None = None) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score

    ads = Path(case) / "observed" / "ads.csv"
    if not ads.is_file():
        raise PalermoError(f"{case}: no observed/ads.csv (a case from `palermo simulate`)")
    truth = _truth(Path(case))
    summary = cluster(ads, out, params=params or ClusterParams(phone_region="GB"))
    with (Path(out) / "ads.csv").open(encoding="utf-8", newline="") as f:
        found = list(csv.DictReader(f))
    rows = [int(r["row"]) for r in found if int(r["row"]) in truth]
    true_pairs = _pairs({r: truth[r] for r in rows})
    result: dict[str, Any] = {"ads": len(rows), "true_campaigns": len(set(truth.values())),
                              "true_pairs": len(true_pairs), "modes": {}}  # fmt: skip
    for mode, column in (("text", "text_group"), ("identifiers", "identifier_group"),
                         ("both", "campaign")):  # fmt: skip
        got = {int(r["row"]): r[column] for r in found if int(r["row"]) in truth}
        pairs = _pairs(got)
        hit = len(pairs & true_pairs)
        labels_true = [truth[r] for r in rows]
        labels_got = [got[r] or f"single:{r}" for r in rows]
        result["modes"][mode] = {
            "pairs": len(pairs),
            "precision": round(hit / len(pairs), 4) if pairs else None,
            "recall": round(hit / len(true_pairs), 4) if true_pairs else None,
            "ari": round(float(adjusted_rand_score(labels_true, labels_got)), 4),
        }
    result["campaigns_found"] = summary["campaigns"]
    result["goal"] = "pairwise precision >= 0.9 at recall >= 0.8 (issue 14)"
    return result
