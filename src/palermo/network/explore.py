"""The network explorer's reads: a node's neighbourhood and the shortest or time-ordered path
between two nodes, on the workspace's graph (``store.graph.graph_tables``, the same ties as
``palermo network analyze``) within the caller's compartments, with each node's cell, role and
key-player mark from the stored findings, and each tie's evidence rows.

The graph of a scope is built once and kept (``GraphCache``): building it reads every statement
and event (seconds on a large case), expanding a node must take milliseconds. The cache is keyed
by the caller's compartments, layers and window, and dropped when the workspace changes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import igraph as ig

from palermo.errors import PalermoError
from palermo.store import findings as findings_store
from palermo.store.graph import graph_tables, parse_layers
from palermo.store.lens import NotFound, hides, protected_entities
from palermo.store.victims import pseudonym, reveal
from palermo.store.workspace import Store

MAX_NODES = 5000  # a neighbourhood larger than this is cut (the strongest ties kept)


@dataclass
class ScopeGraph:
    graph: ig.Graph
    index: dict[str, int]
    entity_node: dict[str, str]
    node_entities: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)


class GraphCache:
    def __init__(self) -> None:
        self._graphs: dict[tuple[Any, ...], ScopeGraph] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._graphs.clear()

    def get(
        self, store: Store, layers: str | None, since: datetime | None, until: datetime | None
    ) -> ScopeGraph:
        chosen = tuple(parse_layers(layers))
        comps = store.scope.compartments
        key = (None if comps is None else tuple(sorted(comps)), chosen, since, until)
        with self._lock:
            if key not in self._graphs:
                self._graphs[key] = _build(store, list(chosen), since, until)
            return self._graphs[key]


def _build(
    store: Store, layers: list[str], since: datetime | None, until: datetime | None
) -> ScopeGraph:
    t = graph_tables(store, layers, since, until)
    nodes = t.nodes.to_pylist()
    index = {n["node"]: i for i, n in enumerate(nodes)}
    edges = [e for e in t.edges.to_pylist() if e["a"] in index and e["b"] in index]
    g = ig.Graph(n=len(nodes), edges=[(index[e["a"]], index[e["b"]]) for e in edges])
    for k in ("node", "kind", "label"):
        g.vs[k] = [n[k] for n in nodes]
    g.vs["countries"] = [n.get("countries") or [] for n in nodes]
    for k in ("layer", "n", "amount", "first", "last", "evidence"):
        g.es[k] = [e.get(k) for e in edges]
    g.vs["role"] = [None] * len(nodes)
    g.vs["cell"] = [None] * len(nodes)
    g.vs["key_player"] = [False] * len(nodes)
    for f in findings_store.read(store, prefix="network."):
        subjects = [s for s in f["subject_ids"] if s in index]
        if f["kind"].startswith("network.role.") and subjects:
            g.vs[index[subjects[0]]]["role"] = f["kind"].removeprefix("network.role.")
        elif f["kind"] == "network.cell":
            for s in subjects:
                g.vs[index[s]]["cell"] = f["id"][:8]
        elif f["kind"] == "network.key_player" and subjects:
            g.vs[index[subjects[0]]]["key_player"] = True
    entity_node = {r["entity_id"]: r["node"] for r in t.entity_nodes.to_pylist()}
    node_entities: dict[str, list[str]] = {}
    for eid, node in entity_node.items():
        node_entities.setdefault(node, []).append(eid)
    return ScopeGraph(g, index, entity_node, node_entities, t.notes)


def _node_of(sg: ScopeGraph, ident: str) -> int:
    node = sg.entity_node.get(ident, ident)
    if node not in sg.index:
        raise NotFound(f"no node {ident!r} in the network within your compartments")
    return sg.index[node]


def _shown(store: Store, sg: ScopeGraph, vids: set[int]) -> dict[int, str]:
    protected = protected_entities(store)
    out: dict[int, str] = {}
    revealed = []
    for v in vids:
        node = sg.graph.vs[v]["node"]
        ents = sg.node_entities.get(node, [node])
        if any(e in protected for e in ents):
            if any(hides(store, e) for e in ents):
                out[v] = pseudonym(store, node)
                continue
            revealed.append(node)
        out[v] = sg.graph.vs[v]["label"] or node
    reveal(store, revealed, "web: network explorer")
    return out


def _payload(
    store: Store, sg: ScopeGraph, vids: set[int], eids: list[int], focus: list[int]
) -> dict[str, Any]:
    g = sg.graph
    labels = _shown(store, sg, vids)
    protected = protected_entities(store)
    nodes = []
    for v in sorted(vids):
        node = g.vs[v]["node"]
        ents = sg.node_entities.get(node, [node])
        nodes.append({
            "id": node, "label": labels[v], "kind": g.vs[v]["kind"], "role": g.vs[v]["role"],
            "cell": g.vs[v]["cell"], "key_player": g.vs[v]["key_player"],
            "degree": g.degree(v), "entity": ents[0] if ents else None,
            "protected": any(e in protected for e in ents), "focus": v in focus,
        })  # fmt: skip
    edges = []
    for e in eids:
        a, b = g.es[e].tuple
        edges.append({
            "id": f"e{e}", "source": g.vs[a]["node"], "target": g.vs[b]["node"],
            "layer": g.es[e]["layer"], "n": g.es[e]["n"], "amount": g.es[e]["amount"],
            "first": str(g.es[e]["first"]) if g.es[e]["first"] else None,
            "last": str(g.es[e]["last"]) if g.es[e]["last"] else None,
            "evidence": g.es[e]["evidence"],
        })  # fmt: skip
    return {"nodes": nodes, "edges": edges, "truncated": False}


def neighbourhood(store: Store, sg: ScopeGraph, ident: str, depth: int = 1) -> dict[str, Any]:
    """The nodes within ``depth`` ties of ``ident`` (an entity or node id) and the ties among
    them; at most ``MAX_NODES``, the nearest first."""
    if not 1 <= depth <= 3:
        raise PalermoError("depth: 1, 2 or 3")
    start = _node_of(sg, ident)
    order = sg.graph.neighborhood(start, order=depth)
    truncated = len(order) > MAX_NODES
    vids = set(order[:MAX_NODES])
    eids = [e.index for e in sg.graph.es.select(_within=list(vids))]
    out = _payload(store, sg, vids, eids, [start])
    out["truncated"] = truncated
    return out


def path(store: Store, sg: ScopeGraph, a: str, b: str, ordered: bool = False) -> dict[str, Any]:
    """The shortest path between two nodes (fewest ties); ``ordered``: a time-ordered path, each
    tie's last contact no earlier than the previous tie's first (who could have passed something
    on), found by a breadth-first search over (node, time) states."""
    va, vb = _node_of(sg, a), _node_of(sg, b)
    g = sg.graph
    if ordered:
        eids = _time_ordered(g, va, vb)
    else:
        found = g.get_shortest_path(va, vb, output="epath")
        eids = list(found) if (found or va == vb) else []
    if not eids and va != vb:
        return {"nodes": [], "edges": [], "found": False, "ordered": ordered}
    vids = {va, vb}
    for e in eids:
        vids.update(g.es[e].tuple)
    out = _payload(store, sg, vids, eids, [va, vb])
    out.update(found=True, ordered=ordered, length=len(eids))
    return out


def _time_ordered(g: ig.Graph, va: int, vb: int, max_states: int = 200_000) -> list[int]:
    # Written by hand: igraph has no temporal path search. Breadth first over ties in time
    # order, each state remembering the earliest time it can leave the node (first path found
    # has the fewest ties; a node is revisited only with an earlier time).
    best: dict[int, Any] = {va: None}
    back: dict[int, tuple[int, int]] = {}
    frontier = [va]
    seen_states = 0
    while frontier and vb not in back and seen_states < max_states:
        nxt = []
        for v in frontier:
            t_in = best[v]
            for e in g.incident(v):
                first, last = g.es[e]["first"], g.es[e]["last"]
                if first is None or (t_in is not None and last is not None and last < t_in):
                    continue
                w = g.es[e].target if g.es[e].source == v else g.es[e].source
                leave = first if t_in is None else max(first, t_in)
                seen_states += 1
                if w not in best or (best[w] is not None and leave < best[w]):
                    best[w] = leave
                    back[w] = (v, e)
                    nxt.append(w)
        frontier = nxt
    if vb not in back:
        return []
    eids = []
    v = vb
    while v != va:
        v, e = back[v]
        eids.append(e)
    return eids[::-1]
