"""``palermo network evaluate``: the workspace network's roles and cells against a simulated case's
ground truth (``truth/``): role macro-F1 (scikit-learn's metrics) and community recovery (ARI and
NMI of our communities against the true cells, for offenders and victims).

A node is matched to the true person its evidence names most often: the source rows of its
Person entities (``truth/mentions.csv``), its bank accounts' holders (``accounts.csv``) and its
phones' owners (``phones.csv``). Nodes no truth file names are not scored.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from palermo.errors import PalermoError
from palermo.network.roles import TRUTH_ROLES
from palermo.store.graph import GraphTables
from palermo.store.workspace import Store


def _read(truth: Path, name: str) -> list[dict[str, str]]:
    path = truth / name
    if not path.is_file():
        raise PalermoError(f"{path}: not found (give the truth/ folder of a simulated case)")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def true_persons(store: Store, tables: GraphTables, truth: Path) -> dict[str, str]:
    """node -> the true person id its evidence names most often (ties: the smallest id)."""
    truth = Path(truth)
    by_row: dict[tuple[str, int], set[str]] = defaultdict(set)
    by_row_org: dict[tuple[str, int], set[str]] = defaultdict(set)
    for m in _read(truth, "mentions.csv"):
        if m["row"].isdigit():
            key = (Path(m["file"]).name, int(m["row"]))
            if m["true_id"].startswith("P"):
                by_row[key].add(m["true_id"])
            elif m["true_id"].startswith("C"):
                by_row_org[key].add(m["true_id"])
    phone_owner = {r["phone"]: r["person_id"] for r in _read(truth, "phones.csv") if r["person_id"]}
    account_holder = {  # persons and companies (a company's role is none)
        r["account"]: r["holder_id"]
        for r in _read(truth, "accounts.csv")
        if r["holder_kind"] in ("person", "company") and r["holder_id"]
    }
    node_of = dict(
        zip(tables.entity_nodes["entity_id"].to_pylist(), tables.entity_nodes["node"].to_pylist(),
            strict=True)
    )  # fmt: skip
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    from palermo.store.resolution import entity_rows

    for kind, rows in (("Person", by_row), ("Company", by_row_org), ("LegalEntity", by_row_org)):
        for entity, file, row in entity_rows(store, kind):
            names = rows.get((Path(file).name, row), set())
            node = node_of.get(entity)
            if node is not None and len(names) == 1:
                votes[node][next(iter(names))] += 1
    ids = tables.identifiers
    for node, kind, value in zip(ids["node"].to_pylist(), ids["kind"].to_pylist(),
                                 ids["value"].to_pylist(), strict=True):  # fmt: skip
        owner = (phone_owner if kind == "phone" else account_holder).get(value)
        if owner and not node.startswith("phone:"):
            votes[node][owner] += 1
    for node in set(tables.edges["a"].to_pylist()) | set(tables.edges["b"].to_pylist()):
        if node.startswith("phone:") and node[6:] in phone_owner:
            votes[node][phone_owner[node[6:]]] += 1
        elif node.startswith("account:") and node[8:] in account_holder:
            votes[node][account_holder[node[8:]]] += 1
    return {n: min(c, key=lambda p: (-c[p], p)) for n, c in votes.items() if c}


def truth_roles(truth: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(person or company id -> role class (companies: none), person id -> true cell id for
    offenders and victims)."""
    truth = Path(truth)
    roles = {
        r["person_id"]: TRUTH_ROLES.get(r["role"], "none") for r in _read(truth, "persons.csv")
    }
    roles |= {r["company_id"]: "none" for r in _read(truth, "companies.csv")}  # no one's role
    cell = {r["person_id"]: r["cell_id"] for r in _read(truth, "members.csv")}
    for v in _read(truth, "victims.csv"):
        cell.setdefault(v["person_id"], v["cell_id"])
    return roles, cell


def evaluate(store: Store, truth: Path, **analysis: Any) -> dict[str, Any]:
    from sklearn.metrics import (
        adjusted_rand_score,
        classification_report,
        f1_score,
        normalized_mutual_info_score,
    )

    from palermo.network.workspace import analyse

    a = analyse(store, **analysis)
    person_of = true_persons(store, a.net.tables, truth)
    roles, cells = truth_roles(truth)
    y_true, y_pred = [], []
    cell_true: list[str] = []
    cell_pred: list[int] = []
    comm_pred: list[int] = []
    for v, name in enumerate(a.net.names):
        p = person_of.get(name)
        if p is None or p not in roles:
            continue
        y_true.append(roles[p])
        y_pred.append(a.role(v)[0])
        if p in cells:
            cell_true.append(cells[p])
            cell_pred.append(a.cell[v])
            comm_pred.append(a.membership[v])
    if not y_true:
        raise PalermoError("no node of this workspace maps to the truth given")
    labels = sorted({r for r in y_true if r != "none"})
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    offenders_seen = len({p for p in person_of.values() if roles.get(p) not in (None, "none")})
    return {
        "nodes": a.net.graph.vcount(),
        "nodes_matched": len(y_true),
        "persons_in_truth_with_a_role": sum(1 for r in roles.values() if r != "none"),
        "persons_with_a_role_found": offenders_seen,
        "role_macro_f1": round(
            float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4
        ),
        "roles": {
            k: {m: round(float(v[m]), 4) for m in ("precision", "recall", "f1-score", "support")}
            for k, v in report.items()
            if k in labels
        },
        "cells_ari": round(float(adjusted_rand_score(cell_true, cell_pred)), 4)
        if cell_true
        else None,
        "cells_nmi": round(float(normalized_mutual_info_score(cell_true, cell_pred)), 4)
        if cell_true
        else None,
        "communities_ari": round(float(adjusted_rand_score(cell_true, comm_pred)), 4)
        if cell_true
        else None,
        "communities_nmi": round(float(normalized_mutual_info_score(cell_true, comm_pred)), 4)
        if cell_true
        else None,
        "cell_members_matched": len(cell_true),
        "role_model": a.model.trained_on,
    }
