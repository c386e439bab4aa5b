"""``palermo network analyze``: communities, positions and key players of any edge list (other
agencies' data, research data), without a workspace.

Read with DuckDB (duplicate edges aggregated, self-loops dropped and counted, bad values refused
with the row), built as an igraph graph (C core) from the aggregated arrays, communities by Leiden
(igraph's C implementation, fixed seed), positions by igraph. Only the greedy key-player search
loops in Python, over a small candidate set (see ``key_players``). Sized for 1M nodes / 10M ties:
no per-edge Python loop; Leiden iterations and betweenness sources shrink with the number of
ties (``leiden_iterations``, ``betweenness_sources``). ``benchmarks/network.py`` measures it.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import igraph as ig
import numpy as np
import pyarrow as pa

from palermo.errors import PalermoError

SEED = 42
EXACT_BETWEENNESS_MAX = 5_000  # above: estimated from a sample of source nodes
SAMPLE_SOURCES = 256  # sources sampled above EXACT_BETWEENNESS_MAX nodes, up to SAMPLE_WORK ties
SAMPLE_WORK = 160_000_000  # sources x ties: above 625,000 ties, fewer sources (each is a Dijkstra)
MIN_SAMPLE_SOURCES = 16  # but never fewer than this (16 at 10M ties)


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
    columns named source and target are used, else the first two columns.

    All in DuckDB, vectorised: node names get their index by rank (sorted by name), the rows are
    aggregated on those integer pairs and come back as numpy arrays; no row is a Python object."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PalermoError(f"{path}: empty file (no header, no edges)")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        return _read_edges(con, path, source, target, weight, time)
    finally:
        con.close()


def edge_columns(
    path: Path,
    header: list[str],
    source: str | None,
    target: str | None,
    **others: str | None,
) -> tuple[str, str]:
    """The two end columns of an edge list (given, else 'source' and 'target', else the first
    two), every named column checked against the header (``others``: weight=..., time=...)."""
    if source is None or target is None:
        if {"source", "target"} <= set(header):
            source, target = source or "source", target or "target"
        elif len(header) >= 2:
            source, target = source or header[0], target or header[1]
        else:
            raise PalermoError(f"{path}: an edge list needs two columns (found {len(header)})")
    wanted = {"--source": source, "--target": target, **{f"--{k}": v for k, v in others.items()}}
    missing = [f"{opt} {col!r}" for opt, col in wanted.items() if col and col not in header]
    if missing:
        raise PalermoError(
            f"{path}: no column {', '.join(missing)} (columns: {', '.join(header) or 'none'})"
        )
    return source, target


def _read_edges(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str | None,
    target: str | None,
    weight: str | None,
    time: str | None,
) -> EdgeList:
    csv_source = "read_csv(?, all_varchar = true, header = true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {csv_source}", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    header = [r[0] for r in described]
    source, target = edge_columns(path, header, source, target, weight=weight, time=time)
    # only the columns used, ends trimmed; the raw weight is kept for the error message. A
    # table's rowid follows the file's order: rowid + 2 is the spreadsheet row (header = row 1).
    cols = [f"trim({_q(source)}) AS s", f"trim({_q(target)}) AS t"]
    if weight:
        cols.append(f"{_q(weight)} AS w_raw")
    if time:
        cols.append(f"trim({_q(time)}) AS tm")
    try:
        con.execute(f"CREATE TABLE raw AS SELECT {', '.join(cols)} FROM {csv_source}", [str(path)])
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    w_num = "TRY_CAST(trim(w_raw) AS DOUBLE)"
    bad_weight = f"({w_num} IS NULL OR NOT isfinite({w_num}) OR {w_num} < 0)" if weight else "false"
    blank = "(coalesce(s, '') = '' OR coalesce(t, '') = '')"
    counts = con.execute(
        f"SELECT count(*), coalesce(count_if({blank}), 0), coalesce(count_if({bad_weight}), 0),"
        " coalesce(count_if(s = t), 0) FROM raw"
    ).fetchone()
    assert counts is not None
    rows, blanks, bad_weights, self_loops = (int(x) for x in counts)
    if blanks:
        first_blank = con.execute(
            f"SELECT rowid + 2 FROM raw WHERE {blank} ORDER BY rowid LIMIT 5"
        ).fetchall()
        shown = ", ".join(str(r[0]) for r in first_blank)
        raise PalermoError(f"{path}: rows {shown}: empty {source!r} or {target!r}")
    if bad_weights:
        bad = con.execute(
            f"SELECT rowid + 2, w_raw FROM raw WHERE {bad_weight} ORDER BY rowid LIMIT 5"
        ).fetchall()
        shown = "; ".join(f"row {r}: {v!r}" for r, v in bad)
        raise PalermoError(f"{path}: --weight {weight!r} must be a number >= 0 ({shown})")
    if not rows:
        raise PalermoError(f"{path}: no edges (a header and nothing else)")
    # vertex index = rank of the name (DuckDB compares strings by bytes: UTF-8 byte order is
    # code point order, Python's); a node seen only in self-loops stays, as an isolated vertex
    con.execute(
        "CREATE TABLE nodes AS SELECT name, (row_number() OVER (ORDER BY name) - 1)::BIGINT AS id"
        " FROM (SELECT s AS name FROM raw UNION SELECT t FROM raw)"
    )
    w = "CAST(trim(w_raw) AS DOUBLE)" if weight else "1.0"
    tm = ", min(tm) AS first, max(tm) AS last" if time else ""
    agg = con.sql(
        f"""SELECT least(ns.id, nt.id) AS a, greatest(ns.id, nt.id) AS b, sum({w}) AS w,
        count(*) AS c{tm}
        FROM raw JOIN nodes ns ON raw.s = ns.name JOIN nodes nt ON raw.t = nt.name
        WHERE raw.s <> raw.t GROUP BY ALL ORDER BY a, b"""
    ).to_arrow_table()
    names = con.sql("SELECT name FROM nodes ORDER BY id").to_arrow_table()
    m = agg.num_rows
    out = EdgeList(
        names=names.column(0).to_pylist(),
        sources=_int64(agg.column("a")),
        targets=_int64(agg.column("b")),
        weights=agg.column("w").to_numpy().astype(np.float64, copy=False),
        counts=_int64(agg.column("c")),
        first=agg.column("first").to_pylist() if time else [None] * m,
        last=agg.column("last").to_pylist() if time else [None] * m,
        self_loops=self_loops,
        duplicates=rows - self_loops - m,
        rows=rows,
    )
    if self_loops:
        out.notes.append(f"{self_loops} self-loop row(s) dropped")
    if out.duplicates:
        out.notes.append(
            f"{out.duplicates} duplicate row(s) merged into their edge (weights summed, a-b = b-a)"
        )
    if len(out.names) < 2:
        raise PalermoError(
            f"{path}: a graph needs at least 2 nodes; this one has {len(out.names)}"
            + (" (after dropping self-loops)" if self_loops else "")
        )
    return out


def _int64(column: Any) -> np.ndarray:
    return np.asarray(column.to_numpy(), dtype=np.int64)


def build(edges: EdgeList) -> ig.Graph:
    """The igraph graph: vertex i is ``edges.names[i]``, edge attribute ``weight``. The edges go
    in as an iterator of (int, int) tuples, igraph's quickest path from Python (about twice as
    quick as a numpy array or a list of lists, which it converts pair by pair too)."""
    g = ig.Graph(
        n=len(edges.names), edges=zip(edges.sources.tolist(), edges.targets.tolist(), strict=True)
    )
    g.vs["name"] = edges.names
    g.es["weight"] = edges.weights.tolist()
    return g


LEIDEN_CONVERGE_MAX = 20_000  # up to this many nodes Leiden iterates until nothing changes
LEIDEN_ITERATIONS = 10  # above, this many iterations (modularity within ~2% of converged)
LEIDEN_WORK = 10_000_000  # iterations x ties: above 1M ties fewer iterations (1 at 10M ties)


def leiden_iterations(g: ig.Graph) -> int:
    """How many Leiden iterations ``leiden`` runs on ``g`` (-1: until nothing changes). Up to
    LEIDEN_CONVERGE_MAX nodes until convergence; above, LEIDEN_ITERATIONS, and fewer above 1M ties
    (LEIDEN_WORK / ties, at least 1): one iteration is a full Leiden run, further ones refine it
    (at 1M nodes / 10M ties: modularity 0.6630 after one, 0.6635 after ten, for 1/7 the time)."""
    if g.vcount() <= LEIDEN_CONVERGE_MAX:
        return -1
    ties: int = g.ecount()
    return max(1, min(LEIDEN_ITERATIONS, LEIDEN_WORK // max(1, ties)))


def leiden(g: ig.Graph, resolution: float = 1.0) -> list[int]:
    """Communities by Leiden (igraph's C implementation), modularity with the given resolution,
    reproducible: igraph draws from Python's ``random``, seeded here. Iterations: see
    ``leiden_iterations``."""
    state = random.getstate()
    random.seed(SEED)
    try:
        clustering = g.community_leiden(
            objective_function="modularity", weights="weight", resolution=resolution,
            n_iterations=leiden_iterations(g),
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
    usual one. Ties go to the earliest node.

    No candidate is cut out for real: removing a node that is not an articulation point only
    shrinks its component by one; for an articulation point, the pieces its component falls
    into are read off the block-cut tree (``_cut_pieces``), for all candidates at once."""
    btw_all = np.array(
        betweenness if betweenness is not None else _betweenness(g), dtype=np.float64
    )
    chosen: list[int] = []
    h = g.copy()  # without attributes: deleting a vertex then moves no attribute values
    for attr in h.vs.attributes():
        del h.vs[attr]
    for attr in h.es.attributes():
        del h.es[attr]
    orig = np.arange(g.vcount())
    for _ in range(min(k, g.vcount() - 1)):
        if h.ecount() == 0:
            break
        deg = np.array(h.degree())
        btw = btw_all[orig]
        pool = sorted(set(np.argsort(-deg, kind="stable")[:candidates].tolist())
                      | set(np.argsort(-btw, kind="stable")[:candidates].tolist()))  # fmt: skip
        # the blocks (spanning-tree edges of each) and the articulation points, in one pass
        trees, art_list = ig.GraphBase.biconnected_components(h, True)
        arts = set(art_list)
        comps = h.connected_components()
        sizes = np.array(comps.sizes(), dtype=np.float64)
        membership = comps.membership
        pairs = float((sizes * (sizes - 1)).sum())
        cut = _cut_pieces(h, trees, art_list, sizes, membership) if arts.intersection(pool) else {}
        m = h.vcount() - 1  # nodes left after the removal
        best, best_f = -1, -1.0
        for v in pool:
            size = sizes[membership[v]]
            # pairs still connected without v: the other components' as they are, v's
            # component's pieces (one piece of size - 1 unless v is an articulation point)
            within = cut[v] if v in arts else (size - 1) * (size - 2)
            left = pairs - size * (size - 1) + within
            f = 1.0 - left / (m * (m - 1)) if m > 1 else 0.0
            if f > best_f + 1e-12 or (abs(f - best_f) <= 1e-12 and orig[v] < orig[best]):
                best, best_f = v, f
        chosen.append(int(orig[best]))
        if len(chosen) < k:
            h.delete_vertices([best])
            orig = np.delete(orig, best)
    return chosen


CUT_INCIDENT_MAX = 50_000  # up to this many articulation points, their blocks from incident()


def _cut_pieces(
    h: ig.Graph,
    trees: list[list[int]],
    arts: list[int],
    sizes: np.ndarray,
    membership: list[int],
) -> dict[int, float]:
    """For every articulation point v of ``h``: the sum of p * (p - 1) over the pieces p its
    component falls into when v is removed (connected pairs left there), from the block-cut
    tree: blocks (biconnected components, given by the edges of a spanning tree of each, as
    igraph returns them) and articulation points, joined where a point lies in a block. Rooted,
    each node weighs its vertices (a block: those that are no articulation point; a point: 1);
    the pieces of v are the subtrees of its child blocks and the rest of its component above
    it. Exact integers (as floats), so the same figures as cutting v out."""
    if not arts:
        return {}
    n_blocks, n_arts = len(trees), len(arts)
    lens = np.fromiter(map(len, trees), dtype=np.int64, count=n_blocks)  # block size - 1
    tree_edges = np.fromiter(
        itertools.chain.from_iterable(trees), dtype=np.int64, count=int(lens.sum())
    )
    tree_block = np.repeat(np.arange(n_blocks), lens)
    # a point lies in a block iff one of the block's spanning-tree edges touches it
    if n_arts <= CUT_INCIDENT_MAX:
        edge_block = np.full(h.ecount(), -1, dtype=np.int64)
        edge_block[tree_edges] = tree_block
        found = [np.unique(edge_block[np.asarray(h.incident(v), dtype=np.int64)]) for v in arts]
        link_block = np.concatenate(found)
        link_art = np.repeat(np.arange(n_arts), [len(f) for f in found])
        keep = link_block >= 0
        link_block, link_art = link_block[keep], link_art[keep]
    else:
        art_pos = np.full(h.vcount(), -1, dtype=np.int64)
        art_pos[np.asarray(arts, dtype=np.int64)] = np.arange(n_arts)
        ends = np.array(h.get_edgelist(), dtype=np.int64).reshape(-1, 2)[tree_edges]
        pos = np.concatenate([art_pos[ends[:, 0]], art_pos[ends[:, 1]]])
        blk = np.concatenate([tree_block, tree_block])
        key = np.unique(blk[pos >= 0] * n_arts + pos[pos >= 0])
        link_block, link_art = key // n_arts, key % n_arts
    weight = np.concatenate([
        lens + 1 - np.bincount(link_block, minlength=n_blocks), np.ones(n_arts, dtype=np.int64)
    ])  # fmt: skip
    # the forest, plus a root above one node of each tree: one BFS orders them all
    tree = ig.Graph(
        n=n_blocks + n_arts + 1,
        edges=zip(link_block.tolist(), (n_blocks + link_art).tolist(), strict=True),
    )
    root = n_blocks + n_arts
    tops = [c[0] for c in tree.connected_components() if c[0] != root]
    tree.add_edges([(root, t) for t in tops])
    order, _layers, parent = tree.bfs(root)
    subtree = [*weight.tolist(), 0]
    for x in reversed(order):
        if x != root:
            subtree[parent[x]] += subtree[x]
    sub = np.array(subtree, dtype=np.float64)
    par = np.asarray(parent, dtype=np.int64)
    # each block's subtree is a piece of its parent point
    child = np.arange(n_blocks)
    child = child[par[child] != root]
    below = np.bincount(
        par[child] - n_blocks, weights=sub[child] * (sub[child] - 1), minlength=n_arts
    )
    out: dict[int, float] = {}
    for j, v in enumerate(arts):
        up = sizes[membership[v]] - sub[n_blocks + j]  # the rest of v's component, above it
        out[v] = float(below[j] + up * (up - 1))
    return out


def betweenness_sources(g: ig.Graph) -> int | None:
    """How many sampled sources ``_betweenness`` uses on ``g``; None: exact (all nodes). Up to
    EXACT_BETWEENNESS_MAX nodes exact; above, SAMPLE_SOURCES, and fewer above 625,000 ties
    (SAMPLE_WORK / ties, at least MIN_SAMPLE_SOURCES): each source is one Dijkstra over the
    whole graph, about 2-4 s at 1M nodes / 10M ties on one core."""
    if g.vcount() <= EXACT_BETWEENNESS_MAX:
        return None
    ties: int = g.ecount()
    return max(MIN_SAMPLE_SOURCES, min(SAMPLE_SOURCES, SAMPLE_WORK // max(1, ties)))


def _betweenness(g: ig.Graph) -> list[float]:
    """Betweenness with distances 1/weight (a strong tie is a short path). Exact up to
    EXACT_BETWEENNESS_MAX nodes; above, estimated from shortest paths out of
    ``betweenness_sources(g)`` source nodes drawn with a fixed seed, scaled by n / sources
    (Brandes & Pich 2007), with igraph's subset betweenness."""
    dist = None
    if g.ecount():
        w = np.array(g.es["weight"], dtype=np.float64)
        positive = w > 0
        dist = np.where(positive, 1.0 / np.where(positive, w, 1.0), 1e9).tolist()
    n = g.vcount()
    k = betweenness_sources(g)
    if k is None:
        return list(g.betweenness(weights=dist))
    sources = np.sort(np.random.default_rng(SEED).choice(n, size=k, replace=False))
    values = g.betweenness(weights=dist, sources=sources.tolist())
    return [float(v) * n / k for v in values]


def positions(g: ig.Graph) -> dict[str, list[Any]]:
    """Degree, strength, betweenness, PageRank, eigenvector, coreness, constraint, brokerage."""
    n = g.vcount()
    degree = g.degree()
    local_cc = g.transitivity_local_undirected(mode="zero")
    return {
        "degree": degree,
        "strength": g.strength(weights="weight"),
        "betweenness": _betweenness(g),
        "pagerank": g.pagerank(weights="weight"),
        "eigenvector": _eigenvector(g) if g.ecount() else [0.0] * n,
        "coreness": g.coreness(),
        "constraint": [c if math.isfinite(c) else 0.0 for c in g.constraint(weights="weight")],
        # Gould-Fernandez total brokerage, undirected: pairs of neighbours not tied to each other
        "brokerage": [
            round((1 - c) * d * (d - 1) / 2) for c, d in zip(local_cc, degree, strict=True)
        ],
    }


def _eigenvector(g: ig.Graph) -> list[float]:
    # igraph warns that eigenvector centrality means little on a disconnected graph: a
    # workspace graph always is (isolated records); the values are still per component
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return list(g.eigenvector_centrality(weights="weight", scale=True))


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
    pos = positions(g)
    degree, strength, btw = pos["degree"], pos["strength"], pos["betweenness"]
    pagerank, eigen, coreness = pos["pagerank"], pos["eigenvector"], pos["coreness"]
    constraint, brokerage = pos["constraint"], pos["brokerage"]
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
        else f"estimated from {betweenness_sources(g)} sampled sources (seed {SEED})",
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
    """One row per community. Vectorised over the edges: internal and external weight summed
    per community in edge order (as a loop would), density from the internal edge count (as
    igraph's: m / n * 2 / (n - 1); the graph is simple), first/last seen in DuckDB."""
    mem = np.asarray(membership, dtype=np.int64)
    n_comm = int(mem.max()) + 1 if len(mem) else 0
    ca, cb = mem[edges.sources], mem[edges.targets]
    same = ca == cb
    internal = np.bincount(ca[same], weights=edges.weights[same], minlength=n_comm)
    internal_edges = np.bincount(ca[same], minlength=n_comm)
    ends = np.empty(2 * int((~same).sum()), dtype=np.int64)
    ends[0::2], ends[1::2] = ca[~same], cb[~same]  # both ends of each tie, in edge order
    external = np.bincount(ends, weights=np.repeat(edges.weights[~same], 2), minlength=n_comm)
    first, last = _seen(edges, ca, cb, same)
    members: dict[int, list[int]] = {}
    for v, c in enumerate(membership):
        members.setdefault(c, []).append(v)
    rows = []
    for c in sorted(members):
        vs = members[c]
        size = len(vs)
        density = float(internal_edges[c]) / size * 2.0 / (size - 1) if size > 1 else 0.0
        top = sorted(vs, key=lambda v: (-pagerank[v], edges.names[v]))[:3]
        rows.append([
            c, size, ";".join(sorted(edges.names[v] for v in vs)), _r(density),
            ";".join(edges.names[v] for v in top), _r(float(internal[c])),
            _r(float(external[c])), first.get(c, ""), last.get(c, ""),
        ])  # fmt: skip
    return rows


def _seen(
    edges: EdgeList, ca: np.ndarray, cb: np.ndarray, same: np.ndarray
) -> tuple[dict[int, str], dict[int, str]]:
    """First and last time seen per community: over the ties touching it that have both."""
    if all(x is None for x in edges.first):
        return {}, {}
    cross = pa.array(np.flatnonzero(~same))  # a tie across two communities counts for both
    first, last = pa.array(edges.first, pa.string()), pa.array(edges.last, pa.string())
    table = pa.table({
        "c": pa.array(np.concatenate([ca, cb[~same]])),
        "f": pa.concat_arrays([first, first.take(cross)]),
        "l": pa.concat_arrays([last, last.take(cross)]),
    })  # fmt: skip
    con = duckdb.connect()
    try:
        con.register("seen", table)
        rows = con.execute(
            "SELECT c, min(f), max(l) FROM seen WHERE f IS NOT NULL AND l IS NOT NULL GROUP BY c"
        ).fetchall()
    finally:
        con.close()
    return {int(c): f for c, f, _ in rows}, {int(c): x for c, _, x in rows}


def _r(x: float) -> float:
    return round(float(x), 6) if math.isfinite(x) else 0.0
