"""``palermo report case``: the case file for prosecutors, about a criminal cell or one entity.

What it holds, each part from what the analyses stored or compute the same way again:
summary; persons and roles (``network.role.*``, key players, brokers, risk, with the evidence
rows behind each); the network chart (the subject and its ties, cells coloured); a timeline of
the subject's payments, calls and border crossings; the money trail (possible victims' money
traced forward, ``finance.proceeds``'s proportional rule, the routes through the subject's
suspects as a Sankey and a path table, amounts by country) with the proceeds per suspect and
its range over every attribution rule; assets owned and those bought with traced money;
victims (pseudonymised for a reader not entitled to their names) with the indicators found and
the earnings taken from them; the exhibit list (every evidence file cited, its SHA-256 re-hashed
from the evidence store, when and by whom it was ingested, the findings relying on it); every
finding's rule, parameters and code version; and the cited rows themselves (appendix).

Reproducible: the same workspace, reader and parameters give the same bytes (no time of making
in the file, everything sorted, layouts seeded); the file's SHA-256 goes into the audit chain
(``report.case``) with the subject and the parameters.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palermo import __version__
from palermo.errors import PalermoError
from palermo.model import entity_key
from palermo.network.explore import GraphCache, ScopeGraph, _shown
from palermo.report import charts
from palermo.report.exhibits import anchor, exhibits, file_names, refs_in, rows_of
from palermo.report.render import environment, html_to_pdf
from palermo.store import audit, lens
from palermo.store import findings as findings_store
from palermo.store.index import allowed_of, read_index
from palermo.store.money import Rate
from palermo.store.workspace import Store

TEMPLATE = Path(__file__).with_name("templates") / "case.html.j2"
SEED = 42
CHART_EXTRA = 25  # nodes outside the subject drawn in its chart (the strongest ties first)
PATHS_SHOWN = 40
SOURCES_SHOWN = 12  # Sankey sources and ends drawn one by one; the rest summed
FLOWS_SHOWN = 30
OFFENDER_KINDS = ("Person", "LegalEntity", "Company", "Organization")


@dataclass
class Cites:
    """Which report item cites which evidence row (for the exhibit list and the appendix)."""

    names: frozenset[str]
    by_ref: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))

    def cite(self, data: Any, by: str) -> list[dict[str, Any]]:
        refs = sorted(refs_in(data, self.names))
        for r in refs:
            self.by_ref[r].add(by)
        return [{"ref": f"{n}:{row}", "file": n, "row": row, "anchor": anchor(n, row)}
                for n, row in refs]  # fmt: skip


def _short(finding_id: str) -> str:
    return "F-" + finding_id[:8]


def _cell_number(f: dict[str, Any]) -> int | None:
    m = re.match(r"Criminal cell (\d+):", f["explanation"])
    return int(m.group(1)) if m else None


def _subject(sg: ScopeGraph, found: list[dict[str, Any]], text: str,
             labels: dict[int, str]) -> dict[str, Any]:  # fmt: skip
    cells = [f for f in found if f["kind"] == "network.cell"]
    t = text.strip()
    m = re.fullmatch(r"(?i)cell[\s:#-]*(\d+)", t)
    if m:
        hit = [f for f in cells if _cell_number(f) == int(m.group(1))]
    else:
        hit = [f for f in cells if f["id"] == t or (len(t) >= 8 and f["id"].startswith(t))]
    if hit:
        f = hit[0]
        members = [s for s in f["subject_ids"] if s in sg.index]
        return {"kind": "cell", "id": f["id"], "number": _cell_number(f), "finding": f,
                "members": members, "label": f"criminal cell {_cell_number(f)}"}  # fmt: skip
    node = sg.entity_node.get(t, t)
    if node not in sg.index:
        wanted = sorted(t.casefold().split())
        nodes = sorted({sg.graph.vs[v]["node"] for v, lab in labels.items()
                        if wanted and sorted(lab.casefold().split()) == wanted})  # fmt: skip
        if len(nodes) > 1:
            raise PalermoError(
                f"--subject {text!r}: {len(nodes)} entities have that name ({', '.join(nodes[:8])});"
                " give one's id"
            )
        if not nodes:
            raise PalermoError(
                f"--subject {text!r}: no criminal cell (cell:N, a network.cell finding id) and no"
                " entity of that id or name in the network within your compartments (run"
                " `palermo network analyze -w WS` for cells)"
            )
        node = nodes[0]
    v = sg.index[node]
    return {"kind": "entity", "id": node, "number": None, "finding": None, "members": [node],
            "label": labels.get(v) or node}  # fmt: skip


def _layout(g: Any, vids: list[int]) -> dict[int, tuple[float, float]]:
    sub = g.subgraph(vids)
    state = random.getstate()
    random.seed(SEED)  # igraph draws from Python's random: a seeded layout is the same layout
    try:
        lay = sub.layout_fruchterman_reingold(niter=500, weights=None)
    finally:
        random.setstate(state)
    xs, ys = [p[0] for p in lay.coords], [p[1] for p in lay.coords]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    return {v: ((x - min(xs)) / span, (y - min(ys)) / span)
            for v, (x, y) in zip(vids, lay.coords, strict=True)}  # fmt: skip


def case_report(
    store: Store, subject: str, out: Path, rates: list[Rate] | None = None,
    rates_file: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Write the case file about ``subject`` to ``out`` (``.html`` or ``.pdf``); returns what
    was written (path, pages, SHA-256, counts) after recording it in the audit chain."""
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("html", "pdf"):
        raise PalermoError(f"--out {out}: a case file is .html or .pdf")
    found = findings_store.read(store)
    if not any(f["kind"] == "network.cell" or f["kind"].startswith("network.role.")
               for f in found):  # fmt: skip
        raise PalermoError(
            "no network findings: run `palermo network analyze -w WS` first (the case file"
            " draws on its cells and roles)"
        )
    sg = GraphCache().get(store, None, None, None)
    g = sg.graph
    ctx = _gather(store, sg, found, subject, rates, rates_file)
    ctx = lens.redact_json(store, ctx)
    html = environment().from_string(TEMPLATE.read_text(encoding="utf-8")).render(**ctx)
    html = lens.redactor(store)(html)  # a last net: no protected name left in any text
    out.parent.mkdir(parents=True, exist_ok=True)
    pages = None
    if fmt == "html":
        out.write_text(html, encoding="utf-8")
    else:
        pages = html_to_pdf(html, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    result = {
        "out": str(out), "format": fmt, "pages": pages, "sha256": digest,
        "subject": ctx["subject"]["label"], "subject_id": ctx["subject"]["id"],
        "persons": len(ctx["persons"]), "victims": len(ctx["victims"]),
        "exhibits": len(ctx["exhibits"]), "findings": len(ctx["findings"]),
        "evidence_rows": ctx["rows_total"], "names_shown": ctx["reader"]["names_shown"],
        "nodes": g.vcount(),
    }  # fmt: skip
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "report.case", ctx["subject"]["id"],
                     {k: result[k] for k in ("out", "format", "sha256", "subject", "pages",
                                              "names_shown", "exhibits", "evidence_rows")}
                     | {"parameters": ctx["parameters"]})  # fmt: skip
    return result


def _gather(
    store: Store, sg: ScopeGraph, found: list[dict[str, Any]], text: str,
    rates: list[Rate] | None, rates_file: str | None,
) -> dict[str, Any]:  # fmt: skip
    g = sg.graph
    # who may not see victims' names sees pseudonyms, also where another entity (a bank's
    # account holder) carries a victim's name as its label
    redact = lens.redactor(store)
    labels = {v: redact(x) for v, x in _shown(store, sg, set(range(g.vcount()))).items()}
    subj = _subject(sg, found, text, labels)
    members: list[str] = subj["members"]
    member_set = set(members)
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in found:
        for s in f["subject_ids"][:1] if f["kind"] != "network.cell" else []:
            by_subject[s].append(f)
    role_of = {f["subject_ids"][0]: (f["kind"].removeprefix("network.role."), f)
               for f in found if f["kind"].startswith("network.role.")}  # fmt: skip
    lead_of = {f["subject_ids"][0]: f for f in found if f["kind"] == "victims.lead"}
    if subj["kind"] == "entity":
        v0 = sg.index[members[0]]
        around = [g.vs[u]["node"] for u in g.neighbors(v0)]
        victims = sorted(n for n in around if role_of.get(n, ("",))[0] == "victim" or n in lead_of)
        offenders = (n for n in around if role_of.get(n, ("",))[0] not in ("", "victim", "none"))
        suspects = [members[0], *sorted(offenders)]
        if members[0] in lead_of or role_of.get(members[0], ("",))[0] == "victim":
            victims = [members[0], *victims]
    else:
        victims = sorted(n for n in members if role_of.get(n, ("",))[0] == "victim"
                         or n in lead_of)  # fmt: skip
        suspects = sorted(n for n in members if n not in set(victims))
    cites = Cites(file_names(store))
    used: dict[str, dict[str, Any]] = {}

    def use(f: dict[str, Any]) -> dict[str, str]:
        used[f["id"]] = f
        return {"short": _short(f["id"]), "kind": f["kind"], "anchor": "f-" + f["id"]}

    def label(node: str) -> str:
        v = sg.index.get(node)
        return labels.get(v, node) if v is not None else node

    # -- persons and roles ------------------------------------------------------------------
    persons = []
    for node in suspects:
        v = sg.index[node]
        role, rf = role_of.get(node, ("", None))
        if not role and g.vs[v]["kind"] not in OFFENDER_KINDS:
            continue
        fs = [use(f) for f in by_subject.get(node, []) if not f["kind"].startswith("victims.")]
        evidence = cites.cite([f["evidence"] for f in by_subject.get(node, [])
                               if not f["kind"].startswith("victims.")], "persons")  # fmt: skip
        persons.append({
            "node": node, "label": label(node), "kind": g.vs[v]["kind"], "role": role or "-",
            "probability": rf["score"] if rf else None,
            "explanation": rf["explanation"] if rf else "no role asserted by the role model",
            "findings": fs, "evidence": evidence, "evidence_total": len(evidence),
            "key_player": g.vs[v]["key_player"], "degree": g.degree(v),
        })  # fmt: skip
    persons.sort(key=lambda p: (p["role"] == "-", p["role"], -(p["probability"] or 0), p["node"]))
    others = [label(n) for n in suspects if n not in {p["node"] for p in persons}]
    # -- the network chart ------------------------------------------------------------------
    inner = [sg.index[n] for n in members]
    extra: dict[int, float] = {}
    for v in inner if subj["kind"] == "cell" else []:
        for e in g.incident(v):
            u = g.es[e].target if g.es[e].source == v else g.es[e].source
            if g.vs[u]["node"] not in member_set and g.vs[u]["role"] not in (None, "victim"):
                extra[u] = extra.get(u, 0.0) + float(g.es[e]["n"] or 1)
    if subj["kind"] == "entity":
        for e in g.incident(inner[0]):
            u = g.es[e].target if g.es[e].source == inner[0] else g.es[e].source
            extra[u] = extra.get(u, 0.0) + float(g.es[e]["n"] or 1)
    chosen = sorted(extra, key=lambda u: (-extra[u], g.vs[u]["node"]))[: CHART_EXTRA * 2]
    vids = sorted(set(inner) | set(chosen))
    pos = _layout(g, vids) if vids else {}
    cell_no = {f["id"][:8]: _cell_number(f) for f in found if f["kind"] == "network.cell"}
    cells = sorted({g.vs[v]["cell"] for v in vids if g.vs[v]["cell"]},
                   key=lambda c: (cell_no.get(c) or 0, c))  # fmt: skip
    cell_colour = {c: charts.PALETTE[i % len(charts.PALETTE)] for i, c in enumerate(cells)}
    at = {v: i for i, v in enumerate(vids)}
    chart_nodes = [{
        "x": pos[v][0], "y": pos[v][1], "label": labels.get(v, g.vs[v]["node"]),
        "colour": cell_colour.get(g.vs[v]["cell"], charts.OTHER),
        "victim": g.vs[v]["role"] == "victim" or g.vs[v]["node"] in lead_of,
        "focus": g.vs[v]["node"] in member_set and subj["kind"] == "entity",
    } for v in vids]  # fmt: skip
    chart_edges, seen = [], set()
    for e in g.es.select(_within=vids):
        a, b = sorted((at[e.source], at[e.target]))
        if (a, b) not in seen:
            seen.add((a, b))
            chart_edges.append((a, b, float(e["n"] or 1)))
    chart_edges.sort()
    legend_items = [{"colour": cell_colour[c], "cell": cell_no.get(c, c)} for c in cells]
    network_svg = charts.network_svg(chart_nodes, chart_edges)
    ties = []
    for e in g.es.select(_within=inner):
        ties.append({"a": label(g.vs[e.source]["node"]), "b": label(g.vs[e.target]["node"]),
                     "layer": e["layer"], "n": e["n"], "amount": e["amount"],
                     "evidence": cites.cite(e["evidence"] or [], "network ties")})  # fmt: skip
    ties.sort(key=lambda t: (-(t["n"] or 0), t["a"], t["b"], t["layer"]))
    # -- timeline ---------------------------------------------------------------------------
    timeline = _timeline(store, sg, members, cites)
    # -- money ------------------------------------------------------------------------------
    money = _money(store, sg, suspects, victims, labels, rates, cites)
    # -- victims ----------------------------------------------------------------------------
    taken = {r["victim"]: r for r in money.get("victims_taken", [])}
    victim_rows: list[dict[str, Any]] = []
    for node in victims:
        lf = lead_of.get(node)
        rf = role_of.get(node, ("", None))[1]
        grouped_signals: dict[tuple[str, str], dict[str, Any]] = {}
        for ev in lf["evidence"] if lf else []:
            for s in ev.get("signals", []):
                key = (str(s.get("signal")), str(s.get("strength")))
                gs = grouped_signals.setdefault(key, {"signal": key[0], "strength": key[1],
                                                      "details": [], "refs": []})  # fmt: skip
                gs["details"].append(str(s.get("detail") or ""))
                gs["refs"].append(s.get("evidence"))
        signals = []
        for gs in grouped_signals.values():
            ev_refs = cites.cite(gs["refs"], "victims")
            signals.append({"signal": gs["signal"], "strength": gs["strength"],
                            "times": len(gs["details"]), "details": gs["details"][:3],
                            "evidence": ev_refs})  # fmt: skip
        t = taken.get(node)
        victim_rows.append({
            "label": label(node),
            "lead": use(lf) if lf else None, "lead_score": lf["score"] if lf else None,
            "lead_text": lf["explanation"] if lf else "",
            "role": use(rf) if rf else None, "signals": signals[:40],
            "non_punishment": bool(lf and "Non-punishment" in lf["explanation"]),
            "taken": t,
        })  # fmt: skip
    victim_rows.sort(key=lambda r: (-(r["taken"]["taken_eur"] if r["taken"] else 0.0),
                                    -(r["lead_score"] or 0), r["label"]))  # fmt: skip
    if store.scope.sees_victim_names and victims:
        from palermo.store.victims import reveal

        reveal(store, victims, "report case")
    # -- findings, exhibits, rows -----------------------------------------------------------
    if subj["finding"]:
        use(subj["finding"])
        cites.cite(subj["finding"]["evidence"], _short(subj["finding"]["id"]))
    for f in used.values():
        cites.cite(f["evidence"], _short(f["id"]))
    finding_rows = []
    for f in sorted(used.values(), key=lambda f: (f["kind"], f["id"])):
        finding_rows.append({
            "anchor": "f-" + f["id"], "short": _short(f["id"]), "id": f["id"], "kind": f["kind"],
            "subjects": [label(s) for s in f["subject_ids"][:12]],
            "subjects_total": len(f["subject_ids"]), "score": f["score"],
            "explanation": f["explanation"],
            "parameters": json.dumps(f["parameters"], sort_keys=True, ensure_ascii=False),
            "code_version": f["code_version"], "created_at": f["created_at"],
            "compartment": f["compartment"], "evidence": cites.cite(f["evidence"], "-")[:60],
        })  # fmt: skip
    by_ref = {r: sorted(b - {"-"}) for r, b in cites.by_ref.items()}
    used_files, other_files = exhibits(store, {r: set(b) for r, b in by_ref.items()})
    exhibit_of = {x["name"]: x["exhibit"] for x in used_files}
    short_anchor = {_short(i): "f-" + i for i in used}
    for x in used_files:
        x["relied_on_by"] = [{"text": t, "anchor": short_anchor.get(t)} for t in x["relied_on_by"]]
    from palermo.report.exhibits import ROWS_SHOWN

    refs = sorted(by_ref)
    stored = rows_of(store, refs[:ROWS_SHOWN])
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in stored:
        grouped[(r["file"], r["row"])].append(r)
    appendix = [{"anchor": anchor(n, row), "file": n, "row": row, "exhibit": exhibit_of.get(n),
                 "cited_by": by_ref[(n, row)], "items": grouped.get((n, row), [])}
                for n, row in refs[:ROWS_SHOWN]]  # fmt: skip
    runs = store.engine.rows(
        "SELECT count(*), max(run_id), strftime(max(finished_at), '%Y-%m-%d %H:%M:%S UTC')"
        " FROM ingest_runs WHERE " + store.scope.sql_filter("compartment")[0],
        store.scope.sql_filter("compartment")[1],
    )[0]
    summary = _summary(subj, persons, victim_rows, money, timeline, used_files)
    return {
        "title": f"Case file: {subj['label']}",
        "subject": {"kind": subj["kind"], "id": subj["id"], "label": subj["label"],
                    "cell": (use(subj["finding"]) if subj["finding"] else None),
                    "explanation": subj["finding"]["explanation"] if subj["finding"] else "",
                    "members": len(members)},
        "reader": {"actor": store.scope.actor, "role": store.scope.role or "owner",
                   "compartments": sorted(store.scope.compartments or ["(all)"]),
                   "names_shown": store.scope.sees_victim_names},
        "code_version": __version__,
        "data_as_of": {"runs": runs[0], "last_run": runs[1], "last_ingest": runs[2],
                       "findings_made": max((f["created_at"][:19] + " UTC" for f in used.values()),
                                            default=None)},
        "parameters": {"subject": text, "rates": rates_file, "layers": "all",
                       "trail_rule": "proportional (range over proportional, fifo, lifo, libr,"
                                     " traced_first)", "layout_seed": SEED},
        "summary": summary,
        "persons": persons, "other_members": others,
        "network_svg": network_svg, "legend": legend_items,
        "ties": ties[:80], "ties_total": len(ties),
        "timeline": timeline, "money": money, "victims": victim_rows,
        "exhibits": used_files, "other_files": other_files,
        "findings": finding_rows, "appendix": appendix, "rows_total": len(refs),
        "rows_shown": min(len(refs), ROWS_SHOWN),
    }  # fmt: skip


def _summary(subj: dict[str, Any], persons: list[dict[str, Any]], victims: list[dict[str, Any]],
             money: dict[str, Any], timeline: dict[str, Any],
             files: list[dict[str, Any]]) -> list[tuple[str, str, str]]:  # fmt: skip
    roles: dict[str, int] = defaultdict(int)
    for p in persons:
        roles[p["role"]] += 1
    out = [
        ("Subject", subj["label"], "network"),
        ("Members", str(len(subj["members"])), "network"),
        ("Suspects by role", ", ".join(f"{r} {n}" for r, n in sorted(roles.items())) or "-",
         "persons"),
        ("Possible victims", str(len(victims)), "victims"),
        ("Non-punishment flags", str(sum(1 for v in victims if v["non_punishment"])), "victims"),
        ("Active", f"{timeline['first'] or '?'} to {timeline['last'] or '?'}", "timeline"),
    ]  # fmt: skip
    if money.get("available"):
        u = money["unit"]
        out += [
            ("Proceeds received (central, proportional rule)", f"{money['received']:,.2f} {u}",
             "proceeds"),
            ("Range over the attribution rules",
             f"{money['received_low']:,.2f} to {money['received_high']:,.2f} {u}", "proceeds"),
            ("Held at the end (to freeze)", f"{money['held']:,.2f} {u}", "proceeds"),
            ("Assets bought with traced money", f"{money['assets_bought']:,.2f} {u}", "assets"),
            ("Taken from the victims (owed to them)", f"{money['taken']:,.2f} {u}", "victims"),
        ]  # fmt: skip
    else:
        out.append(("Money", money.get("why", "not traced"), "money"))
    out.append(("Exhibits (evidence files relied on)", str(len(files)), "exhibits"))
    return out


def _timeline(store: Store, sg: ScopeGraph, members: list[str], cites: Cites) -> dict[str, Any]:
    index, allowed = read_index(store), allowed_of(store)
    ids = sorted({e for m in members for e in sg.node_entities.get(m, [m])})
    payments = index.payments_of([entity_key(i) for i in ids], allowed, 10**7)
    calls = index.calls_of(index.phones_of(ids, allowed), allowed, 10**7)
    trips = index.trips(ids, allowed, 10**5)
    months: dict[str, dict[str, float]] = defaultdict(
        lambda: {"payments": 0, "amount": 0.0, "calls": 0, "crossings": 0}
    )
    for p in payments:
        m = months[str(p["at"])[:7]]
        m["payments"] += 1
        m["amount"] += float(p["amount"] or 0)
    for c in calls:
        months[str(c["at"])[:7]]["calls"] += 1
    for t in trips:
        if t["at"]:
            months[str(t["at"])[:7]]["crossings"] += 1
    keys = sorted(months)
    svg = charts.bars_svg(keys, {k: [months[m][k] for m in keys]
                                 for k in ("payments", "calls", "crossings")},
                          "events a month") if keys else ""  # fmt: skip
    trip_rows = sorted(trips, key=lambda t: (str(t["at"] or ""), t["id"]))
    for t in trip_rows:
        t["evidence"] = cites.cite(f"{t['file']}:{t['row']}", "timeline") if t["file"] else []
    stamps = [str(p["at"]) for p in payments] + [str(c["at"]) for c in calls]
    return {
        "svg": svg, "months": [{"month": m, **months[m]} for m in keys],
        "trips": trip_rows[:100], "trips_total": len(trip_rows),
        "payments": len(payments), "calls": len(calls),
        "first": min(stamps)[:10] if stamps else None, "last": max(stamps)[:10] if stamps else None,
    }  # fmt: skip


def _money(
    store: Store, sg: ScopeGraph, suspects: list[str], victims: list[str],
    labels: dict[int, str], rates: list[Rate] | None, cites: Cites,
) -> dict[str, Any]:  # fmt: skip
    from palermo.finance.proceeds import proceeds
    from palermo.store.money import money_tables

    tables = money_tables(store, rates or [])
    if tables.missing_rates:
        return {"available": False, "why": f"payments in {', '.join(tables.missing_rates)} have"
                " no EUR rate: give --rates FILE to trace the money"}  # fmt: skip
    holders = {a["node"] for a in tables.accounts.to_pylist() if a["node"]}
    mine = [s for s in suspects if s in holders]
    if not mine:
        return {"available": False, "why": "no suspect of the subject holds an account in the"
                " payments"}  # fmt: skip
    try:
        mine_acc = {a["account"] for a in tables.accounts.to_pylist() if a["node"] in set(mine)}
        res = proceeds(store, suspects=mine, rates=rates, store_findings=False, detail=True,
                       tables=tables, detail_accounts=mine_acc)  # fmt: skip
    except PalermoError as exc:
        return {"available": False, "why": str(exc)}
    acc_node: dict[str, str] = res["account_nodes"]

    def shown(node: str | None, fallback: str) -> str:
        if node is not None and node in sg.index:
            return labels.get(sg.index[node], node)
        return fallback

    mine_set = set(mine)
    country = {a["account"]: a["country"] for a in tables.accounts.to_pylist()}
    # the flows: traced money into the suspects' accounts from outside them, and out of them
    # to others (edges of the proportional trail: every traced cent, not just the top routes)
    into: dict[tuple[str, str], float] = defaultdict(float)
    onward: dict[tuple[str, str], float] = defaultdict(float)
    by_country: dict[tuple[str, str], float] = defaultdict(float)
    flow_rows = []
    for e in res["trail"]["edges"]:
        na, nb = acc_node.get(e["from_account"]), acc_node.get(e["to_account"])
        a_in, b_in = na in mine_set, nb in mine_set
        if a_in == b_in:
            continue
        x = float(e["traced_eur"])
        if b_in:
            into[(shown(na, e["from_holder"]), shown(nb, e["to_holder"]))] += x
        else:
            cash = e["to_account"].upper().startswith("CASH")
            cc = country.get(e["to_account"]) or "?"
            kind = (
                "cash withdrawn"
                if cash
                else ("abroad" if cc != (country.get(e["from_account"]) or "?") else "paid on")
            )
            end = f"cash withdrawn {cc}" if cash else f"{shown(nb, e['to_holder'])} ({cc})"
            onward[(shown(na, e["from_holder"]), end)] += x
            by_country[(kind, cc)] += x
        flow_rows.append({"direction": "in" if b_in else "out",
                          "from": shown(na, e["from_holder"]), "to": shown(nb, e["to_holder"]),
                          "country": country.get(e["to_account"] if not b_in
                                                 else e["from_account"]) or "?",
                          "payments": e["payments"], "traced": x,
                          "first": e["first"][:10], "last": e["last"][:10],
                          "evidence": e["evidence"]})  # fmt: skip
    held: dict[str, float] = defaultdict(float)
    for r in res["proceeds"]:
        if r["suspect"] in mine_set and r["held_eur"] > 0:
            held[shown(r["suspect"], r["label"])] += r["held_eur"]
    flow_rows.sort(key=lambda r: (-r["traced"], r["direction"], r["from"], r["to"]))
    for r in flow_rows[:FLOWS_SHOWN]:
        r["evidence"] = cites.cite(r["evidence"], "money trail")
    sankey = ""
    if into or onward:
        left = _top_bands(into, 0)
        right = _top_bands(onward, 1) + [(m, f"held by {m}", x) for m, x in sorted(held.items())]
        sankey = charts.sankey_svg(left, right, res["unit"])
    paths = []
    for n, r in enumerate(res["trail"]["paths"]):
        accounts = [a.strip() for a in r["accounts"].split(">")] if r["hops"] else []
        nodes = [acc_node.get(a) for a in accounts]
        if not any(x in mine_set for x in nodes):
            continue
        paths.append({
            "n": n, "amount": float(r["amount_eur"]), "kind": r["kind"], "country": r["country"],
            "holders": " > ".join(shown(x, a) for x, a in zip(nodes, accounts, strict=True)),
            "hops": r["hops"], "first": r["first"][:10], "last": r["last"][:10],
            "asset": r["asset"], "evidence": r["evidence"],
        })  # fmt: skip
    rows = [r for r in res["proceeds"] if r["suspect"] in mine_set]
    for r in rows:
        r["label"] = shown(r["suspect"], r["label"])
    assets = []
    bought = {a for r in rows for a in (r["assets"].split(";") if r["assets"] else [])}
    for a in tables.assets.to_pylist():
        if a["owner_node"] in set(suspects):
            assets.append({**a, "owner": shown(a["owner_node"], a["owner_node"]),
                           "registered": str(a["registered"] or ""),
                           "bought_with_traced": (a["label"] or a["asset_id"]) in bought
                           or a["asset_id"] in bought,
                           "evidence": cites.cite(a["evidence"], "assets")})  # fmt: skip
    assets.sort(key=lambda a: (-(a["price_eur"] or 0.0), a["asset_id"]))
    vt = [
        {**v, "label": shown(v["victim"], v["label"]), "of_subject": v["victim"] in set(victims)}
        for v in res["victims_taken"]
        if v["victim"] in set(victims) or v["taken_eur"] > 0.005
    ]
    paths.sort(key=lambda p: (-p["amount"], p["n"]))
    for p in paths[:PATHS_SHOWN]:
        p["evidence"] = cites.cite(p["evidence"], "money trail")
    return {
        "available": True, "unit": res["unit"], "notes": res["notes"],
        "sankey_svg": sankey, "paths": paths[:PATHS_SHOWN], "paths_total": len(paths),
        "flows": flow_rows[:FLOWS_SHOWN], "flows_total": len(flow_rows),
        "into": sum(into.values()), "onward": sum(onward.values()),
        "by_country": [{"kind": k, "country": c, "amount": round(x, 2)}
                       for (k, c), x in sorted(by_country.items(), key=lambda kv: -kv[1])],
        "proceeds": rows,
        "received": sum(r["received_eur"] for r in rows),
        "received_low": sum(r["received_low_eur"] for r in rows),
        "received_high": sum(r["received_high_eur"] for r in rows),
        "held": sum(r["held_eur"] for r in rows),
        "assets_bought": sum(r["assets_eur"] for r in rows),
        "assets": assets,
        "victims_taken": vt,
        "taken": sum(v["taken_eur"] for v in vt if v["victim"] in set(victims)),
        "method": res["method"],
    }  # fmt: skip


def _top_bands(flows: dict[tuple[str, str], float], keep: int) -> list[tuple[str, str, float]]:
    """Bands (a, b, amount) with the outer side's largest names kept, the rest as 'others'
    (``keep``: 0, the sources are the outer side; 1, the ends)."""
    total: dict[str, float] = defaultdict(float)
    for k, x in flows.items():
        total[k[keep]] += x
    top = set(sorted(total, key=lambda n: (-total[n], n))[:SOURCES_SHOWN])
    out: dict[tuple[str, str], float] = defaultdict(float)
    for (a, b), x in flows.items():
        if keep == 0:
            out[(a if a in top else "others", b)] += x
        else:
            out[(a, b if b in top else "others")] += x
    return [(a, b, x) for (a, b), x in sorted(out.items())]
