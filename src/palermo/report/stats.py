"""``palermo report stats``: national statistics for one period in the layouts people report in
(GRETA's questionnaire, Eurostat's and UNODC's data collections): detected victims by sex, age
group, citizenship and form of exploitation; suspects, prosecutions and convictions by role;
identified assets and confiscations. CSV files and a short HTML page with SVG charts.

Every count below ``k`` (10 by default) is suppressed, and then more (``report.suppression``:
secondary suppression) so that no suppressed count can be worked out from the totals beside it;
an asset table's value is suppressed with its count. Zeros are published (say so with
``suppress_zeros`` to hide them too).

**Detected in the period**: a possible victim (``victims.lead``) is counted in the period in
which they were identified: the day a victim case was opened for them (``palermo victims case
open``), else the earliest dated evidence row of their lead (a note, a registration, a payment,
a crossing), else the day the lead was found. A suspect (an offender role of the network
analysis) is counted where they were active (an event of theirs falls in the period).
Prosecutions, convictions and confiscations are not in any source the workspace ingests: they
come from ``--outcomes FILE.csv`` (person, stage prosecuted|convicted|acquitted, date[,
amount_eur for a confiscation]); without it their tables say "no data", never 0.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from palermo.errors import PalermoError
from palermo.model import entity_key
from palermo.report import charts
from palermo.report.exhibits import file_names, refs_in
from palermo.report.render import environment
from palermo.report.suppression import TOTAL, suppress
from palermo.store import audit
from palermo.store import findings as F
from palermo.store.workspace import Store

TEMPLATE = Path(__file__).with_name("templates") / "stats.html.j2"
OUTCOMES = ("prosecuted", "convicted", "acquitted", "confiscated")
DATE_PROPS = ("date", "startDate", "publishedAt", "endDate")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    label: str

    @classmethod
    def parse(cls, text: str) -> Period:
        t = text.strip()
        m = re.fullmatch(r"(\d{4})", t)
        if m:
            y = int(m.group(1))
            return cls(date(y, 1, 1), date(y, 12, 31), t)
        m = re.fullmatch(r"(\d{4})-Q([1-4])", t, re.I)
        if m:
            y, q = int(m.group(1)), int(m.group(2))
            start = date(y, 3 * q - 2, 1)
            end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
            return cls(start, date.fromordinal(end.toordinal() - 1), t.upper())
        m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", t)
        if m:
            a, b = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
            if b < a:
                raise PalermoError(f"--period {text!r}: the end is before the start")
            return cls(a, b, t)
        raise PalermoError(
            f"--period {text!r}: a year (2025), a quarter (2025-Q1) or a range of days"
            " (2025-01-01..2025-06-30)"
        )

    def holds(self, d: date | None) -> bool:
        return d is not None and self.start <= d <= self.end


def _one_way(values: list[str], every: list[str], k: int, zeros: bool) -> list[dict[str, Any]]:
    """Counts of one dimension with their total, suppressed as ``suppress`` does (a cell and
    its one-way margin are one number here: hidden when either is)."""
    t = suppress([(v,) for v in values], ["x"], k=k, suppress_zeros=zeros,
                 all_values={"x": every})  # fmt: skip
    out = []
    for (v,), n in sorted(t.cells.items()):
        hidden = (v,) in t.hidden_cells or (0, v) in t.hidden_margins
        why = "suppressed" if hidden else ""
        out.append({"value": v, "count": None if hidden else n, "suppressed": why, "_n": n})
    why = "suppressed" if t.total_hidden else ""
    out.append({"value": TOTAL, "count": None if t.total_hidden else t.total,
                "suppressed": why, "_n": t.total})  # fmt: skip
    return out


def _detected(store: Store, leads: list[dict[str, Any]]) -> dict[str, tuple[date, str]]:
    """Victim node -> (the day they were identified, how that day is known)."""
    import pyarrow as pa

    out: dict[str, tuple[date, str]] = {}
    cond, params = store.scope.sql_filter("compartment")
    for person, opened in store.engine.rows(
        f"SELECT person, min(opened_at)::DATE FROM victim_cases WHERE {cond} GROUP BY 1", params
    ):
        out[str(person)] = (opened, "victim case opened")
    names = file_names(store)
    refs = sorted({(f["subject_ids"][0], n, r) for f in leads
                   for n, r in refs_in(f["evidence"], names)})  # fmt: skip
    if refs:
        store.engine.register("_leadrefs", pa.table({
            "node": [r[0] for r in refs], "name": [r[1] for r in refs], "row": [r[2] for r in refs],
        }))  # fmt: skip
        c = store.scope.sql_filter("t.compartment")
        try:
            rows = store.engine.rows(
                f"""WITH c AS (SELECT r.node, ev.sha256, r.row FROM _leadrefs r
                  JOIN evidence ev ON ev.original_name = r.name), d AS (
                  SELECT c.node, t.occurred_at::DATE AS d FROM c JOIN payments t
                    ON t.evidence_sha256 = c.sha256 AND t.source_row = c.row WHERE {c[0]}
                  UNION ALL SELECT c.node, t.started_at::DATE FROM c JOIN calls t
                    ON t.evidence_sha256 = c.sha256 AND t.source_row = c.row WHERE {c[0]}
                  UNION ALL SELECT c.node, try_cast(left(t.value, 10) AS DATE) FROM c
                    JOIN statements t ON t.evidence_sha256 = c.sha256 AND t.source_row = c.row
                    WHERE t.prop IN {DATE_PROPS} AND {c[0]})
                SELECT node, min(d) FROM d WHERE d IS NOT NULL GROUP BY node""",
                [*c[1], *c[1], *c[1]],
            )
        finally:
            store.engine.unregister("_leadrefs")
        for node, day in rows:
            out.setdefault(str(node), (day, "earliest dated evidence of the lead"))
    for f in leads:
        out.setdefault(f["subject_ids"][0], (date.fromisoformat(f["created_at"][:10]),
                                             "the day the lead was found"))  # fmt: skip
    return out


def _read_outcomes(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(valid rows, rejected rows with row, field and reason)."""
    good, bad = [], []
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise PalermoError(f"--outcomes {path}: {exc.strerror}") from exc
    with f:
        reader = csv.DictReader(f)
        missing = {"person", "outcome", "date"} - set(reader.fieldnames or [])
        if missing:
            raise PalermoError(f"--outcomes {path}: no column {', '.join(sorted(missing))}"
                               " (person, outcome, date[, amount_eur])")  # fmt: skip
        for n, r in enumerate(reader, start=2):
            why = None
            outcome = (r.get("outcome") or "").strip().lower()
            try:
                day = date.fromisoformat((r.get("date") or "").strip()[:10])
            except ValueError:
                why = ("date", f"not a date: {r.get('date')!r} (YYYY-MM-DD)")
            amount = None
            if not (r.get("person") or "").strip():
                why = ("person", "empty")
            elif outcome not in OUTCOMES:
                why = ("outcome", f"{outcome!r}: one of {', '.join(OUTCOMES)}")
            elif outcome == "confiscated":
                try:
                    amount = float((r.get("amount_eur") or "").replace(",", ""))
                except ValueError:
                    why = ("amount_eur", f"not an amount: {r.get('amount_eur')!r}")
            if why:
                bad.append({"file": str(path), "row": n, "field": why[0], "reason": why[1]})
            else:
                good.append({"row": n, "person": r["person"].strip(), "outcome": outcome,
                             "date": day, "amount_eur": amount})  # fmt: skip
    return good, bad


def report_stats(
    store: Store, period: str, out: Path, *, k: int = 10, suppress_zeros: bool = False,
    outcomes: Path | None = None, rates: list[Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Write the period's statistics to ``out`` (CSV files, ``stats.html``, ``summary.json``)."""
    from palermo.network.explore import GraphCache
    from palermo.network.roles import ROLES
    from palermo.store.index import allowed_of, read_index
    from palermo.store.money import money_tables
    from palermo.victims.export import DIMENSIONS, victim_records

    if k < 1:
        raise PalermoError(f"--k {k}: must be at least 1")
    p = Period.parse(period)
    notes: list[str] = []
    # -- victims detected in the period -----------------------------------------------------
    leads = F.read(store, "victims.lead")
    when = _detected(store, leads)
    chosen = [f for f in leads if p.holds(when[f["subject_ids"][0]][0])]
    _records, agg = victim_records(store, chosen, as_of=p.end, purpose="report.stats")
    how = Counter(when[f["subject_ids"][0]][1] for f in chosen)
    victims = suppress(agg, DIMENSIONS, k=k, suppress_zeros=suppress_zeros)
    victim_rows = victims.rows(reasons=False)
    # -- suspects active in the period, prosecutions, convictions ---------------------------
    offender = [r for r in ROLES if r not in ("none", "victim")]
    role_of = {f["subject_ids"][0]: f["kind"].removeprefix("network.role.")
               for f in F.read(store, "network.role.")
               if f["kind"].removeprefix("network.role.") in offender}  # fmt: skip
    sg = GraphCache().get(store, None, None, None)
    index, allowed = read_index(store), allowed_of(store)
    active = []
    for node in sorted(role_of):
        ids = sg.node_entities.get(node, [node])
        days = [r["at"] for r in index.payments_of([entity_key(i) for i in ids], allowed, 10**6)]
        days += [c["at"] for c in index.calls_of(index.phones_of(ids, allowed), allowed, 10**6)]
        days += [t["at"] for t in index.trips(ids, allowed, 10**5)]
        if any(p.holds(_day(d)) for d in days if d):
            active.append(node)
    suspects = {"suspected": _one_way([role_of[n] for n in active], offender, k, suppress_zeros)}
    rejected: list[dict[str, Any]] = []
    outcome_rows: list[dict[str, Any]] = []
    if outcomes is not None:
        good, rejected = _read_outcomes(Path(outcomes))
        labels = {
            sg.graph.vs[v]["node"]: (sg.graph.vs[v]["label"] or "")
            for v in range(sg.graph.vcount())
        }
        for r in good:
            node = sg.entity_node.get(r["person"], r["person"])
            if node not in sg.index:
                words = sorted(r["person"].casefold().split())
                hits = sorted(
                    n for n, lab in labels.items() if sorted(lab.casefold().split()) == words
                )
                node = hits[0] if len(hits) == 1 else None
                if node is None:
                    rejected.append({"file": str(outcomes), "row": r["row"], "field": "person",
                                     "reason": f"{r['person']!r}: no such person in the network"
                                     if not hits else f"{r['person']!r}: {len(hits)} persons"
                                     " carry that name; give the entity id"})  # fmt: skip
                    continue
            r["node"] = node
            r["role"] = role_of.get(node, "not a suspect")
            outcome_rows.append(r)
    if outcomes is None:
        notes.append("prosecutions, convictions and confiscations: no data (the workspace holds"
                     " no court records; give them with --outcomes FILE.csv)")  # fmt: skip
    for stage in ("prosecuted", "convicted"):
        if outcomes is None:
            suspects[stage] = []
            continue
        persons = {r["node"]: r["role"] for r in outcome_rows
                   if r["outcome"] == stage and p.holds(r["date"])}  # fmt: skip
        suspects[stage] = _one_way(list(persons.values()), [*offender, "not a suspect"], k,
                                   suppress_zeros)  # fmt: skip
    # -- assets identified (owned by the active suspects) and confiscated -------------------
    tables = money_tables(store, rates or [])
    owned = [a for a in tables.assets.to_pylist() if a["owner_node"] in set(active)]
    assets = _one_way([a["kind"] for a in owned], ["real_estate", "company_shares"], k,
                      suppress_zeros)  # fmt: skip
    for row in assets:
        mine = [a for a in owned if row["value"] in (TOTAL, a["kind"])]
        value = sum(float(a["price_eur"]) for a in mine if a["price_eur"] is not None)
        row["value_eur"] = None if row["count"] is None else round(value, 2)
        row["unpriced"] = None if row["count"] is None else sum(
            1 for a in mine if a["price_eur"] is None)  # fmt: skip
    unpriced = sorted({str(a["currency"]) for a in owned
                       if a["price_eur"] is None and a["currency"]})  # fmt: skip
    if unpriced:
        notes.append(f"assets priced in {', '.join(unpriced)} have no EUR rate and are left"
                     " unpriced: give --rates")  # fmt: skip
    confiscated = None
    if outcomes is not None:
        conf = [r for r in outcome_rows if r["outcome"] == "confiscated" and p.holds(r["date"])]
        confiscated = _one_way(["confiscation"] * len(conf), ["confiscation"], k, suppress_zeros)
        total = round(sum(r["amount_eur"] or 0.0 for r in conf), 2)
        for row in confiscated:
            row["value_eur"] = None if row["count"] is None else total
    # -- write ------------------------------------------------------------------------------
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "victims.csv", [*DIMENSIONS, "count", "suppressed"], victim_rows)
    srows = [
        {"stage": stage, "role": r["value"], "count": r["count"], "suppressed": r["suppressed"]}
        for stage, rows in suspects.items()
        for r in rows
    ]
    for stage in ("prosecuted", "convicted"):
        if not suspects[stage]:
            srows.append({"stage": stage, "role": TOTAL, "count": None, "suppressed": "no data"})
    _csv(out / "suspects.csv", ["stage", "role", "count", "suppressed"], srows)
    arows = [
        {
            "table": "identified",
            "kind": r["value"],
            "count": r["count"],
            "value_eur": r["value_eur"],
            "suppressed": r["suppressed"],
        }
        for r in assets
    ]
    if confiscated is None:
        arows.append({"table": "confiscated", "kind": TOTAL, "count": None, "value_eur": None,
                      "suppressed": "no data"})  # fmt: skip
    else:
        arows += [{"table": "confiscated", "kind": r["value"], "count": r["count"],
                   "value_eur": r["value_eur"], "suppressed": r["suppressed"]}
                  for r in confiscated]  # fmt: skip
    _csv(out / "assets.csv", ["table", "kind", "count", "value_eur", "suppressed"], arows)
    files = ["victims.csv", "suspects.csv", "assets.csv"]
    if rejected:
        _csv(out / "outcomes_rejected.csv", ["file", "row", "field", "reason"], rejected)
        files.append("outcomes_rejected.csv")
    else:  # not one left from an earlier run
        (out / "outcomes_rejected.csv").unlink(missing_ok=True)
    summary = {
        "period": p.label, "from": p.start.isoformat(), "to": p.end.isoformat(), "k": k,
        "victims": len(chosen), "victims_published": victims.total if not victims.total_hidden
        else None, "detected_by": dict(sorted(how.items())),
        "suppressed_cells": len(victims.hidden_cells),
        "suppressed_margins": len(victims.hidden_margins),
        "suspects_active": len(active), "outcomes_rejected": len(rejected),
        "files": [*files, "stats.html", "summary.json"],
        "notes": notes,
    }  # fmt: skip
    (out / "stats.html").write_text(_html(summary, victims, victim_rows, DIMENSIONS, srows, arows),
                                    encoding="utf-8")  # fmt: skip
    import json

    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")  # fmt: skip
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "report.stats", str(out),
                     {k2: summary[k2] for k2 in ("period", "k", "victims", "suspects_active",
                                                 "suppressed_cells", "suppressed_margins")}
                     | {"role": store.scope.role})  # fmt: skip
    return summary


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _csv(path: Path, names: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _html(summary: dict[str, Any], victims: Any, victim_rows: list[dict[str, Any]],
          dims: list[str], srows: list[dict[str, Any]], arows: list[dict[str, Any]]) -> str:  # fmt: skip
    """The page: each one-way table with a bar chart of its published counts only."""
    margins = []
    for d, dim in enumerate(dims):
        rows = [r for r in victim_rows
                if r[dim] != TOTAL and all(r[x] == TOTAL for x in dims if x != dim)]  # fmt: skip
        shown = [r for r in rows if r["count"] is not None]
        svg = charts.bars_svg([r[dim] for r in shown], {"victims": [r["count"] for r in shown]},
                              "victims", prefix=f"v{d}") if shown else ""  # fmt: skip
        margins.append({"dimension": dim, "rows": rows, "svg": svg})
    stages: dict[str, list[dict[str, Any]]] = {}
    for r in srows:
        stages.setdefault(r["stage"], []).append(r)
    sus = []
    for stage, rows in stages.items():
        shown = [r for r in rows if r["count"] is not None and r["role"] != TOTAL]
        svg = charts.bars_svg([r["role"] for r in shown], {stage: [r["count"] for r in shown]},
                              "persons", prefix=f"s-{stage}") if shown else ""  # fmt: skip
        sus.append({"stage": stage, "rows": rows, "svg": svg})
    total = next(r for r in victim_rows if all(r[x] == TOTAL for x in dims))
    tpl = environment().from_string(TEMPLATE.read_text(encoding="utf-8"))
    return str(tpl.render(s=summary, margins=margins, stages=sus, assets=arows, total=total,
                          cells=len(victims.cells)))  # fmt: skip
