"""``palermo finance proceeds``: for each suspect, the criminal proceeds they received, with a range,
what is left to freeze, the assets bought with traced funds; for each possible victim, the
earnings taken from them (unpaid wages).

Who is a suspect or a possible victim: the network analysis's role findings
(``network.role.*``: offender roles; ``network.role.victim``), or the caller's lists.

The money traced (``finance.trace``, forward, one run per attribution rule): everything that
leaves a possible victim's accounts, and wages an employer pays into a suspect's account for a
possible victim (a salary whose reference names that victim: pooled wages). A suspect's
**proceeds received** = the traced money that arrives in their accounts (also from another
suspect); **held** = traced money last seen in their accounts (still there at the end, or their
bank's statements are not in the workspace: to freeze); **assets** =
assets paid with traced money from their accounts (to confiscate); **passed on** = traced money
they paid to others. A victim's **taken** = their traced money that entered a suspect's account
from outside the suspects' accounts (counted once, however far it then travels among suspects).

The range: the central figure is the ``proportional`` rule; ``low`` is the least over the rules
(``libr``: the traced money leaves an account last), ``high`` the most (``traced_first``), to
which ``high`` adds what cannot be attributed but is typical of the crime: cash deposited into
the suspect's accounts and salaries into them that name no known victim. A prosecutor can put
the low figure forward and the rule that gives it.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from anyascii import anyascii

from palermo.errors import PalermoError
from palermo.finance.trace import EPS, TraceParams, _Run, _write, edge_rows, path_rows
from palermo.network.roles import ROLES
from palermo.store import audit
from palermo.store import findings as F
from palermo.store.money import MoneyTables, Rate, money_tables
from palermo.store.workspace import Store

RULES = ("proportional", "fifo", "lifo", "libr", "traced_first")
OFFENDER_ROLES = tuple(r for r in ROLES if r not in ("none", "victim"))
SALARY = re.compile(r"salary|wage|payroll|lohn|gehalt|salariu|stipendio|loon|salaire", re.I)


def _words(text: str | None) -> set[str]:
    """Words of a name or reference in Latin letters (a reference may write the victim's name
    in Cyrillic, the register in Latin), case and accents folded."""
    return {w for w in re.split(r"[^\w]+", anyascii(text or "").casefold()) if len(w) > 2}


def _roles(store: Store) -> tuple[dict[str, str], list[str]]:
    suspects: dict[str, str] = {}
    victims: list[str] = []
    for f in F.read(store, "network.role."):
        role = f["kind"].rsplit(".", 1)[-1]
        node = f["subject_ids"][0]
        if role == "victim":
            victims.append(node)
        elif role in OFFENDER_ROLES:
            suspects[node] = role
    return suspects, victims


def _nodes(tables: MoneyTables, given: list[str], option: str) -> list[str]:
    """Entity ids or names -> nodes holding accounts."""
    from palermo.finance.trace import _find_entity

    out = []
    node_of = {a["account"]: a["node"] for a in tables.accounts.to_pylist()}
    for text in given:
        _, accounts = _find_entity(tables, text, option)
        out.append(node_of.get(accounts[0]) or f"account:{accounts[0]}")
    return out


def proceeds(
    store: Store,
    *,
    suspects: list[str] | None = None,
    victims: list[str] | None = None,
    rates: list[Rate] | None = None,
    out: Path | None = None,
    store_findings: bool = True,
    detail: bool = False,
    tables: MoneyTables | None = None,
    detail_accounts: set[str] | None = None,
) -> dict[str, Any]:
    """The proceeds (see the module's text). ``detail``: the result also holds the proportional
    trail (``trail``: its path and edge rows) and each account's holder node
    (``account_nodes``), for a report to draw (``detail_accounts``: only the routes through
    these accounts). ``tables``: the money tables, when the caller
    has read them already (with the same rates)."""
    tables = tables or money_tables(store, rates or [])
    if tables.missing_rates:
        raise PalermoError(
            f"payments in {', '.join(tables.missing_rates)} have no EUR rate: give --rates FILE"
            " (CSV: currency,units_per_eur[,valid_from])"
        )
    found_s, found_v = _roles(store)
    role = dict(found_s)
    s_nodes = _nodes(tables, suspects, "--suspects") if suspects else list(found_s)
    v_nodes = _nodes(tables, victims, "--victims") if victims else list(found_v)
    if not s_nodes:
        raise PalermoError(
            "no suspects: run `palermo network analyze -w WS` first (its role findings name"
            " them) or give --suspects"
        )
    accounts = tables.accounts.to_pylist()
    acc_node = {a["account"]: a["node"] for a in accounts}
    label = {r["node"]: r["name"] for r in reversed(tables.names.to_pylist())}
    label |= {a["node"]: a["label"] for a in accounts if a["node"]}
    s_acc = {a["account"] for a in accounts if a["node"] in set(s_nodes)}
    v_acc = {a["account"] for a in accounts if a["node"] in set(v_nodes)} - s_acc
    notes = list(tables.notes)
    if not v_acc:
        notes.append("no possible victim holds an account: only named wages are traced")
    # wages paid into a suspect's account whose reference names a possible victim
    victim_words = {
        n: _words(r["name"]) | _words(r["translit"])
        for r in tables.names.to_pylist()
        for n in [r["node"]]
        if n in set(v_nodes)
    }
    # anyone else the workspace names: a salary paid into a suspect's account for a third
    # person (pooled wages, FATF F1) makes that person a possible victim too
    suspects_set = set(s_nodes)
    other_words: dict[str, set[str]] = {}
    for r in tables.names.to_pylist():
        if r["node"] not in suspects_set and r["node"] not in victim_words:
            other_words.setdefault(r["node"], set()).update(
                _words(r["name"]) | _words(r["translit"])
            )
    pay = tables.payments
    src, dst = pay.column("src").to_pylist(), pay.column("dst").to_pylist()
    ptype, ref = pay.column("payment_type").to_pylist(), pay.column("reference").to_pylist()
    eur = [float(x) for x in pay.column("amount_eur").to_pylist()]
    named: dict[int, str] = {}
    merged_names = 0
    unnamed_salary: dict[str, float] = {}
    cash_in: dict[str, float] = {}
    for i, (a, b) in enumerate(zip(src, dst, strict=True)):
        if b not in s_acc or a in s_acc:
            continue
        if upper_cash(a):
            cash_in[acc_node[b]] = cash_in.get(acc_node[b], 0.0) + eur[i]
            continue
        if SALARY.search(f"{ptype[i] or ''} {ref[i] or ''}"):
            words = _words(ref[i])
            hit = [v for v, w in victim_words.items() if len(w & words) >= 2]
            if not hit:
                hit = [v for v, w in other_words.items() if len(w & words) >= 2]
            if len(hit) > 1:
                # nodes that resolution left apart but that carry the same name words as the
                # reference: one person; the smallest id stands for them (said in the notes)
                words_of = {v: victim_words.get(v) or other_words.get(v) or set() for v in hit}
                same = [v for v in hit if words_of[v] <= words]
                if same and len({frozenset(words_of[v]) for v in same}) == 1:
                    hit = [min(same)]
                    merged_names += 1
            if len(hit) == 1:
                named[i] = hit[0]
            else:
                unnamed_salary[acc_node[b]] = unnamed_salary.get(acc_node[b], 0.0) + eur[i]
    if merged_names:
        notes.append(
            f"{merged_names} wage payment(s) name a person several unresolved entities stand"
            " for (the same name words): taken as the smallest entity id"
        )
    runs: dict[str, _Run] = {}
    results: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        # routes are written for the proportional trail only; crumbs under 1 EUR are not
        # followed (each would cost as much as a wage to follow)
        params = TraceParams(rule=rule, top_paths=5 if rule == "proportional" else 1)
        run = _Run(tables, params, sorted(v_acc), [], None, seed_tx=set(named), track_origin=True)
        results[rule] = run.go()
        runs[rule] = run
    per_rule = {rule: _per_suspect(run, s_acc, acc_node) for rule, run in runs.items()}
    victims_rule = {rule: _per_victim(run, s_acc, acc_node, named) for rule, run in runs.items()}
    rows = []
    for node in sorted(set(s_nodes), key=lambda n: -per_rule["proportional"].get(n, {}).get("received", 0.0)):  # fmt: skip
        got = {rule: per_rule[rule].get(node, {}) for rule in RULES}
        received = [g.get("received", 0.0) for g in got.values()]
        central = got["proportional"]
        rows.append({
            "suspect": node,
            "label": label.get(node, node),
            "role": role.get(node, "given"),
            "received_eur": round(central.get("received", 0.0), 2),
            "received_low_eur": round(min(received), 2),
            "received_high_eur": round(
                max(received) + cash_in.get(node, 0.0) + unnamed_salary.get(node, 0.0), 2
            ),
            "low_rule": min(RULES, key=lambda r: got[r].get("received", 0.0)),
            "cash_deposits_eur": round(cash_in.get(node, 0.0), 2),
            "unnamed_salaries_eur": round(unnamed_salary.get(node, 0.0), 2),
            "passed_on_eur": round(central.get("passed_on", 0.0), 2),
            "held_eur": round(central.get("held", 0.0), 2),
            "cash_withdrawn_eur": round(central.get("cash", 0.0), 2),
            "assets_eur": round(central.get("assets_eur", 0.0), 2),
            "assets": ";".join(sorted(central.get("assets", set()))),
            "payments_in": int(central.get("payments_in", 0)),
        })  # fmt: skip
    vrows = []
    flagged = set(v_nodes)
    everyone = flagged | set(named.values())
    for node in sorted(everyone, key=lambda n: (-victims_rule["proportional"].get(n, 0.0), n)):
        taken = [victims_rule[r].get(node, 0.0) for r in RULES]
        vrows.append({
            "victim": node,
            "why": "victim role (network analysis)" if node in flagged
            else "named in wages paid into a suspect's account",
            "label": label.get(node, node),
            "taken_eur": round(victims_rule["proportional"].get(node, 0.0), 2),
            "taken_low_eur": round(min(taken), 2),
            "taken_high_eur": round(max(taken), 2),
            "wages_to_controllers_eur": round(sum(eur[i] for i, v in named.items() if v == node), 2),
        })  # fmt: skip
    summary: dict[str, Any] = {
        "suspects": len(rows),
        "victims": len(vrows),
        "proceeds_eur": round(sum(r["received_eur"] for r in rows), 2),
        "to_freeze_eur": round(sum(r["held_eur"] for r in rows), 2),
        "assets_eur": round(sum(r["assets_eur"] for r in rows), 2),
        "victims_taken_eur": round(sum(r["taken_eur"] for r in vrows), 2),
        "traced_eur": results["proportional"]["traced_eur"],
        "rules": list(RULES),
        "unit": tables.unit,  # what every *_eur figure is in (EUR unless one currency, no rate)
        "named_wage_payments": len(named),
        "method": __doc__.split("\n\n", 2)[2].strip() if __doc__ else "",
        "notes": notes,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _table(out / "proceeds.csv", rows)
        _table(out / "victims.csv", vrows)
        run = runs["proportional"]
        trail = {**results["proportional"], "direction": "forward", "rule": "proportional",
                 "from": "possible victims' accounts and wages named for them"}  # fmt: skip
        _write(out / "trail", run, trail)
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if store_findings:
        found = [
            F.Finding(
                "finance.proceeds",
                [r["suspect"]],
                r["received_eur"],
                f"Proceeds received by {r['label']} ({r['role']}): {r['received_eur']:,.2f} EUR"
                f" traced from possible victims' earnings (proportional rule), range"
                f" {r['received_low_eur']:,.2f} ({r['low_rule']}) to {r['received_high_eur']:,.2f}"
                f" EUR (with cash deposits and salaries naming no known victim); held at the end"
                f" {r['held_eur']:,.2f} EUR; assets {r['assets_eur']:,.2f} EUR.",
                [{"proceeds": r}],
                {"rules": list(RULES)},
            )
            for r in rows
        ]
        F.replace(store, "finance.proceeds", found, {"suspects": len(rows)})
    with store.engine.transaction():
        audit.append(store.engine, store.scope.actor, "finance.proceeds", None,
                     {"suspects": len(rows), "victims": len(vrows),
                      "out": str(out) if out else None})  # fmt: skip
    result = {**summary, "proceeds": rows, "victims_taken": vrows}
    if detail:
        run = runs["proportional"]
        trail = {**results["proportional"], "direction": "forward", "rule": "proportional"}
        if detail_accounts is not None:  # only the routes through these accounts
            trail["terminals"] = [
                t for t in trail["terminals"]
                if any(k >= 0 and (run.src[k] in detail_accounts or run.dst[k] in detail_accounts)
                       for path, _ in t["routes"] for k in path)
            ]  # fmt: skip
        result["trail"] = {"paths": path_rows(run, trail), "edges": edge_rows(run, trail),
                           "by_country": results["proportional"]["by_country"]}  # fmt: skip
        result["account_nodes"] = acc_node
    return result


def upper_cash(account: str) -> bool:
    return account.upper().startswith("CASH")


def _per_suspect(run: _Run, s_acc: set[str], acc_node: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, t in run.traced.items():
        if i < 0 or t <= EPS:
            continue
        a, b = run.src[i], run.dst[i]
        na, nb = acc_node.get(a), acc_node.get(b)
        if b in s_acc and nb is not None:
            d = out.setdefault(nb, {})
            d["received"] = d.get("received", 0.0) + t
            d["payments_in"] = d.get("payments_in", 0) + 1
        if a in s_acc and na is not None and na != nb:
            d = out.setdefault(na, {})
            d["passed_on"] = d.get("passed_on", 0.0) + t
    for term in run.terminals:
        node = acc_node.get(term["account"])
        payer = acc_node.get(run.src[term["_i"]]) if term.get("_i") is not None else None
        # last seen in the suspect's account: held there, or their bank's statements absent
        if (
            term["kind"] in ("held", "beyond_data", "remittance")
            and term["account"] in s_acc
            and node is not None
        ):
            d = out.setdefault(node, {})
            d["held"] = d.get("held", 0.0) + term["amount_eur"]
        elif term["kind"] in ("asset", "cash") and payer is not None:
            if run.src[term["_i"]] not in s_acc:
                continue
            d = out.setdefault(payer, {})
            if term["kind"] == "cash":
                d["cash"] = d.get("cash", 0.0) + term["amount_eur"]
            else:
                d["assets_eur"] = d.get("assets_eur", 0.0) + term["amount_eur"]
                d.setdefault("assets", set()).add(str(term.get("asset_label") or term["asset_id"]))
    return out


def _per_victim(
    run: _Run, s_acc: set[str], acc_node: dict[str, str], named: dict[int, str]
) -> dict[str, float]:
    """Victim node -> their traced money that entered a suspect's account from outside."""
    out: dict[str, float] = {}
    for i, t in run.traced.items():
        if i < 0 or t <= EPS or run.dst[i] not in s_acc or run.src[i] in s_acc:
            continue
        for (kind, account), v in run.origin.get(i, {}).items():
            victim = named.get(int(account)) if kind == "seed" else acc_node.get(account)
            if victim is not None:
                out[victim] = out.get(victim, 0.0) + v
    return out


def _table(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["none"])
        w.writeheader()
        w.writerows(rows)


def evaluate_proceeds(store: Store, result: dict[str, Any], truth: Path) -> dict[str, Any]:
    """Proceeds and victims' losses against a simulated case's truth (``proceeds.csv``:
    received_eur per offender; ``victims.csv``: taken_eur): per matched person the error of the
    central figure and whether the truth lies within [low, high]; totals over the matched."""
    from palermo.network.evaluate import true_persons
    from palermo.store.graph import graph_tables

    truth = Path(truth)
    person_of = true_persons(store, graph_tables(store, ["payments"]), truth)

    def read(name: str, key: str) -> dict[str, float]:
        path = truth / name
        if not path.is_file():
            raise PalermoError(f"{path}: not found (give the truth/ folder of a simulated case)")
        with path.open(encoding="utf-8", newline="") as f:
            return {r["person_id"]: float(r[key] or 0) for r in csv.DictReader(f)}

    def score(
        rows: list[dict[str, Any]], who: str, key: str, true: dict[str, float]
    ) -> dict[str, Any]:
        # several nodes may stand for one true person: their figures are summed, the truth
        # counted once
        per: dict[str, list[float]] = {}
        for r in rows:
            person = person_of.get(r[who])
            if person in true:
                v = per.setdefault(person, [0.0, 0.0, 0.0])
                v[0] += r[f"{key}_eur"]
                v[1] += r[f"{key}_low_eur"]
                v[2] += r[f"{key}_high_eur"]
        matched = [(v, true[p]) for p, v in per.items()]
        ours = sum(v[0] for v, _ in matched)
        real = sum(t for _, t in matched)
        inside = sum(1 for v, t in matched if v[1] - 0.01 <= t <= v[2] + 0.01)
        errors = [abs(v[0] - t) for v, t in matched]
        return {
            "matched": len(matched),  # true persons
            "listed": len(rows),
            "ours_eur": round(ours, 2),
            "truth_eur": round(real, 2),
            "total_error": round((ours - real) / real, 4) if real else None,
            "mean_absolute_error_eur": round(sum(errors) / len(errors), 2) if errors else None,
            "truth_within_range": round(inside / len(matched), 4) if matched else None,
        }

    seen_received, seen_taken = _observed_truth(truth)
    return {
        "suspects_received": score(
            result["proceeds"], "suspect", "received", read("proceeds.csv", "received_eur")
        ),
        "suspects_received_in_bank_data": score(
            result["proceeds"], "suspect", "received", seen_received
        ),
        "victims_taken": score(
            result["victims_taken"], "victim", "taken", read("victims.csv", "taken_eur")
        ),
        "victims_taken_in_bank_data": score(result["victims_taken"], "victim", "taken", seen_taken),
    }


def _observed_truth(truth: Path) -> tuple[dict[str, float], dict[str, float]]:
    """What the bank files can show of the truth: per offender, victims' money the ledger
    (``money_flows.csv``, observed rows) puts into accounts they hold or control; per victim,
    their earnings paid into someone else's account and the money swept from their account
    into an offender's. ``proceeds.csv`` and ``victims.csv`` count cash handed over in person
    and what nominees hold too, which no bank file shows."""
    import duckdb

    con = duckdb.connect()
    try:
        for name in ("money_flows", "accounts", "members", "victims"):
            path = truth / f"{name}.csv"
            if not path.is_file():
                raise PalermoError(
                    f"{path}: not found (give the truth/ folder of a simulated case)"
                )
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, all_varchar = true)", [str(path)]
            )
        con.execute(
            """CREATE TABLE acc AS SELECT 'acc:' || (row_number() OVER () - 1) AS node, account,
              coalesce(controlled_by, holder_id) AS person FROM accounts"""
        )
        received = con.execute(
            """SELECT a.person, sum(f.victims_eur::DOUBLE) FROM money_flows f
            JOIN acc a ON a.node = f.target
            WHERE f.observed = '1' AND a.person IN (SELECT person_id FROM members)
            GROUP BY ALL"""
        ).fetchall()
        taken = con.execute(
            """WITH own AS (SELECT v.person_id, a.node FROM victims v JOIN acc a USING (account))
            SELECT person_id, sum(eur) FROM (
              SELECT f.victim_id AS person_id, f.amount_eur::DOUBLE AS eur FROM money_flows f
              WHERE f.observed = '1' AND f.stage = 'earnings'
                AND f.target NOT IN (SELECT node FROM own WHERE person_id = f.victim_id)
              UNION ALL
              SELECT o.person_id, f.amount_eur::DOUBLE FROM money_flows f
              JOIN own o ON o.node = f.source JOIN acc a ON a.node = f.target
              WHERE f.observed = '1' AND a.person IN (SELECT person_id FROM members)
            ) GROUP BY ALL"""
        ).fetchall()
    finally:
        con.close()
    return {p: float(v) for p, v in received}, {p: float(v) for p, v in taken}
