"""``palermo network analyze``: communities, positions and key players of any edge list (other
agencies' data, research data), without a workspace.

Read with DuckDB (duplicate edges aggregated, self-loops dropped and counted, bad values refused
with the row), built as an igraph graph (C core) from the aggregated arrays, communities by Leiden
(igraph's C implementation, fixed seed), positions by igraph. Only the greedy key-player search loops in Python,
over a small candidate set (see ``key_players``).
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import igraph as ig
import numpy as np

from palermo.errors import PalermoError

SEED = 42
EXACT_BETWEENNESS_MAX = 5_000  # above: estimated from a sample of source nodes
SAMPLE_SOURCES = 256


@dataclass
class EdgeList:
    names: list[str]  # vertex index -> node name
    sources: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    counts: np.ndarray  # how many input rows each (aggregated) edge stands for
    first: list[str | None]  # per edge: first time seen (if a time column)
    last: list[str | None]
    self_loops: int = 0
    duplicates: int = 0
    rows: int = 0
    notes: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_edges(
    path: Path,
    source: str | None,
    target: str | None,
    weight: str | None = None,
    time: str | None = None,
) -> EdgeList:
    """Read an edge list (CSV). Undirected: a-b and b-a are one edge; duplicates are summed
    (weights) and counted; self-loops are dropped and counted. Without --source/--target, the
    columns named source and target are used, else the first two columns."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PalermoError(f"{path}: empty file (no header, no edges)")
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE raw AS SELECT *, row_number() OVER () + 1 AS _row"
            " FROM read_csv(?, all_varchar = true, header = true)",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    header = [r[0] for r in con.execute("DESCRIBE raw").fetchall() if r[0] != "_row"]
    if source is None or target is None:
        if {"source", "target"} <= set(header):
            source, target = source or "source", target or "target"
        elif len(header) >= 2:
            source, target = source or header[0], target or header[1]
        else:
            raise PalermoError(f"{path}: an edge list needs two columns (found {len(header)})")
    wanted = {"--source": source, "--target": target, "--weight": weight, "--time": time}
    missing = [f"{opt} {col!r}" for opt, col in wanted.items() if col and col not in header]
    if missing:
        raise PalermoError(
            f"{path}: no column {', '.join(missing)} (columns: {', '.join(header) or 'none'})"
        )
    s, t = _q(source), _q(target)
    blank = con.execute(
        f"SELECT _row FROM raw WHERE coalesce(trim({s}), '') = '' OR coalesce(trim({t}), '') = ''"
        " ORDER BY _row LIMIT 5"
    ).fetchall()
    if blank:
        rows = ", ".join(str(r[0]) for r in blank)
        raise PalermoError(f"{path}: rows {rows}: empty {source!r} or {target!r}")
    w = "1.0"
    if weight:
        bad = con.execute(
            f"SELECT _row, {_q(weight)} FROM raw WHERE TRY_CAST(trim({_q(weight)}) AS DOUBLE) IS NULL"
            f" OR NOT isfinite(TRY_CAST(trim({_q(weight)}) AS DOUBLE))"
            f" OR TRY_CAST(trim({_q(weight)}) AS DOUBLE) < 0 ORDER BY _row LIMIT 5"
        ).fetchall()
        if bad:
            shown = "; ".join(f"row {r}: {v!r}" for r, v in bad)
            raise PalermoError(f"{path}: --weight {weight!r} must be a number >= 0 ({shown})")
        w = f"CAST(trim({_q(weight)}) AS DOUBLE)"
    tm = f"trim({_q(time)})" if time else "NULL"
    rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    if not rows:
        raise PalermoError(f"{path}: no edges (a header and nothing else)")
    con.execute(
        f"""CREATE TABLE e AS SELECT least(trim({s}), trim({t})) AS a, greatest(trim({s}), trim({t})) AS b,
        {w} AS w, {tm} AS tm FROM raw"""
    )
    self_loops = con.execute("SELECT count(*) FROM e WHERE a = b").fetchall()[0][0]
    agg = con.execute(
        """SELECT a, b, sum(w), count(*), min(tm), max(tm) FROM e WHERE a <> b
        GROUP BY a, b ORDER BY a, b"""
    ).fetchall()
    names = sorted({x for r in agg for x in (r[0], r[1])} | set(
        r[0] for r in con.execute("SELECT DISTINCT a FROM e WHERE a = b").fetchall()
    ))  # fmt: skip
    index = {n: i for i, n in enumerate(names)}
    out = EdgeList(
        names=names,
        sources=np.array([index[r[0]] for r in agg], dtype=np.int64),
        targets=np.array([index[r[1]] for r in agg], dtype=np.int64),
        weights=np.array([float(r[2]) for r in agg], dtype=np.float64),
        counts=np.array([int(r[3]) for r in agg], dtype=np.int64),
        first=[r[4] for r in agg],
        last=[r[5] for r in agg],
        self_loops=int(self_loops),
        duplicates=int(rows - self_loops - len(agg)),
        rows=int(rows),
    )
    if self_loops:
        out.notes.append(f"{self_loops} self-loop row(s) dropped")
    if out.duplicates:
        out.notes.append(
            f"{out.duplicates} duplicate row(s) merged into their edge (weights summed, a-b = b-a)"
        )
    if len(names) < 2:
        raise PalermoError(
            f"{path}: a graph needs at least 2 nodes; this one has {len(names)}"
            + (" (after dropping self-loops)" if self_loops else "")
        )
    return out


def build(edges: EdgeList) -> ig.Graph:
    g = ig.Graph(n=len(edges.names), edges=np.column_stack([edges.sources, edges.targets]).tolist())
    g.vs["name"] = edges.names
    g.es["weight"] = edges.weights.tolist()
    return g


LEIDEN_CONVERGE_MAX = 20_000  # up to this many nodes Leiden iterates until nothing changes
LEIDEN_ITERATIONS = 10  # above, this many iterations (modularity within ~2% of converged)


def leiden(g: ig.Graph, resolution: float = 1.0) -> list[int]:
    """Communities by Leiden (igraph's C implementation), modularity with the given resolution,
    reproducible: igraph draws from Python's ``random``, seeded here."""
    state = random.getstate()
    random.seed(SEED)
    try:
        iterations = -1 if g.vcount() <= LEIDEN_CONVERGE_MAX else LEIDEN_ITERATIONS
        clustering = g.community_leiden(
            objective_function="modularity", weights="weight", resolution=resolution,
            n_iterations=iterations,
        )  # fmt: skip
    finally:
        random.setstate(state)
    return list(clustering.membership)


def fragmentation(g: ig.Graph) -> float:
    """Borgatti's F: the share of node pairs that cannot reach each other."""
    n = g.vcount()
    if n < 2:
        return 0.0
    sizes = np.array(g.connected_components().sizes(), dtype=np.float64)
    return float(1.0 - (sizes * (sizes - 1)).sum() / (n * (n - 1)))


def key_players(
    g: ig.Graph, k: int, candidates: int = 30, betweenness: list[float] | None = None
) -> list[int]:
    """Greedy key-player set (Borgatti's KPP-NEG): k nodes whose removal fragments the network
    most, chosen one at a time among the ``candidates`` remaining nodes of highest degree (now)
    and of highest betweenness (in the intact network: computed once, as betweenness is the
    costly part on large graphs). An exhaustive search is exponential; the greedy choice is the
    usual one. Ties go to the earliest node."""
    btw_all = np.array(
        betweenness if betweenness is not None else _betweenness(g), dtype=np.float64
    )
    chosen: list[int] = []
    h = g.copy()
    h.vs["orig"] = list(range(g.vcount()))
    for _ in range(min(k, g.vcount() - 1)):
        if h.ecount() == 0:
            break
        orig = np.array(h.vs["orig"])
        deg = np.array(h.degree())
        btw = btw_all[orig]
        pool = sorted(set(np.argsort(-deg, kind="stable")[:candidates].tolist())
                      | set(np.argsort(-btw, kind="stable")[:candidates].tolist()))  # fmt: skip
        # removing a node that is not an articulation point only shrinks its component by one:
        # its fragmentation is arithmetic; only articulation points need the graph cut
        arts = set(h.articulation_points())
        comps = h.connected_components()
        sizes = np.array(comps.sizes(), dtype=np.float64)
        membership = comps.membership
        pairs = float((sizes * (sizes - 1)).sum())
        m = h.vcount() - 1  # nodes left after the removal
        best, best_f = -1, -1.0
        for v in pool:
            if v in arts:
                trial = h.copy()
                trial.delete_vertices([v])
                f = fragmentation(trial)
            else:
                size = sizes[membership[v]]
                left = pairs - size * (size - 1) + (size - 1) * (size - 2)
                f = 1.0 - left / (m * (m - 1)) if m > 1 else 0.0
            if f > best_f + 1e-12 or (abs(f - best_f) <= 1e-12 and orig[v] < orig[best]):
                best, best_f = v, f
        chosen.append(int(orig[best]))
        h.delete_vertices([best])
    return chosen


def _betweenness(g: ig.Graph) -> list[float]:
    """Betweenness with distances 1/weight (a strong tie is a short path). Exact up to
    EXACT_BETWEENNESS_MAX nodes; above, estimated from shortest paths out of SAMPLE_SOURCES
    source nodes drawn with a fixed seed, scaled by n / sources (Brandes & Pich 2007), with
    igraph's subset betweenness."""
    dist = [1.0 / w if w > 0 else 1e9 for w in g.es["weight"]] if g.ecount() else None
    n = g.vcount()
    if n <= EXACT_BETWEENNESS_MAX:
        return list(g.betweenness(weights=dist))
    sources = np.sort(np.random.default_rng(SEED).choice(n, size=SAMPLE_SOURCES, replace=False))
    values = g.betweenness(weights=dist, sources=sources.tolist())
    return [float(v) * n / SAMPLE_SOURCES for v in values]


def analyze(
    path: Path,
    *,
    source: str | None,
    target: str | None,
    weight: str | None = None,
    time: str | None = None,
    out: Path,
    key_player_k: int = 10,
    resolution: float = 1.0,
) -> dict[str, Any]:
    edges = read_edges(path, source, target, weight, time)
    g = build(edges)
    n = g.vcount()
    membership_raw = leiden(g, resolution)
    membership = _canonical_communities(membership_raw, edges.names)
    degree = g.degree()
    strength = g.strength(weights="weight")
    btw = _betweenness(g)
    pagerank = g.pagerank(weights="weight")
    eigen = g.eigenvector_centrality(weights="weight", scale=True) if g.ecount() else [0.0] * n
    coreness = g.coreness()
    constraint = g.constraint(weights="weight")
    local_cc = g.transitivity_local_undirected(mode="zero")
    # Gould-Fernandez total brokerage, undirected: pairs of neighbours not tied to each other
    brokerage = [round((1 - c) * d * (d - 1) / 2) for c, d in zip(local_cc, degree, strict=True)]
    kp = key_players(g, key_player_k, betweenness=btw)
    kp_rank = {v: i + 1 for i, v in enumerate(kp)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "nodes.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["node", "community", "degree", "strength", "betweenness", "pagerank",
                    "eigenvector", "coreness", "constraint", "brokerage", "key_player_rank"])  # fmt: skip
        for v in range(n):
            w.writerow([
                edges.names[v], membership[v], degree[v], _r(strength[v]), _r(btw[v]),
                _r(pagerank[v]), _r(eigen[v]), coreness[v], _r(constraint[v]), brokerage[v],
                kp_rank.get(v, ""),
            ])  # fmt: skip
    communities = _communities(g, edges, membership, pagerank)
    with (out / "communities.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["community", "size", "members", "density", "top_nodes", "internal_weight",
                    "external_weight", "first_seen", "last_seen"])  # fmt: skip
        for row in communities:
            w.writerow(row)
    summary = {
        "nodes": n,
        "edges": g.ecount(),
        "rows": edges.rows,
        "self_loops_dropped": edges.self_loops,
        "duplicate_rows_merged": edges.duplicates,
        "components": len(g.connected_components()),
        "communities": len(communities),
        "modularity": _r(g.modularity(membership, weights="weight")),
        "betweenness": "exact"
        if n <= EXACT_BETWEENNESS_MAX
        else f"estimated from {SAMPLE_SOURCES} sampled sources (seed {SEED})",
        "key_players": [edges.names[v] for v in kp],
        "fragmentation_after_key_players": _r(_frag_without(g, kp)),
        "notes": edges.notes,
        "out": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _frag_without(g: ig.Graph, removed: list[int]) -> float:
    h = g.copy()
    h.delete_vertices(removed)
    return fragmentation(h)


def _canonical_communities(membership: list[int], names: list[str]) -> list[int]:
    """Number communities by size (largest first), ties by their smallest node name: the same
    graph always gets the same numbers."""
    groups: dict[int, list[str]] = {}
    for v, c in enumerate(membership):
        groups.setdefault(c, []).append(names[v])
    order = sorted(groups, key=lambda c: (-len(groups[c]), min(groups[c])))
    renumber = {c: i + 1 for i, c in enumerate(order)}
    return [renumber[c] for c in membership]


def _communities(
    g: ig.Graph, edges: EdgeList, membership: list[int], pagerank: list[float]
) -> list[list[Any]]:
    members: dict[int, list[int]] = {}
    for v, c in enumerate(membership):
        members.setdefault(c, []).append(v)
    internal: dict[int, float] = {}
    external: dict[int, float] = {}
    first: dict[int, str] = {}
    last: dict[int, str] = {}
    for e, (a, b) in enumerate(zip(edges.sources, edges.targets, strict=True)):
        ca, cb = membership[int(a)], membership[int(b)]
        wgt = float(edges.weights[e])
        seen_first, seen_last = edges.first[e], edges.last[e]
        if seen_first is not None and seen_last is not None:
            for c in {ca, cb}:
                first[c] = min(first.get(c, seen_first), seen_first)
                last[c] = max(last.get(c, seen_last), seen_last)
        if ca == cb:
            internal[ca] = internal.get(ca, 0.0) + wgt
        else:
            external[ca] = external.get(ca, 0.0) + wgt
            external[cb] = external.get(cb, 0.0) + wgt
    rows = []
    for c in sorted(members):
        vs = members[c]
        size = len(vs)
        sub = g.induced_subgraph(vs)
        density = sub.density() if size > 1 else 0.0
        top = sorted(vs, key=lambda v: (-pagerank[v], edges.names[v]))[:3]
        rows.append([
            c, size, ";".join(sorted(edges.names[v] for v in vs)), _r(density),
            ";".join(edges.names[v] for v in top), _r(internal.get(c, 0.0)),
            _r(external.get(c, 0.0)), first.get(c, ""), last.get(c, ""),
        ])  # fmt: skip
    return rows


def _r(x: float) -> float:
    return round(float(x), 6) if math.isfinite(x) else 0.0
