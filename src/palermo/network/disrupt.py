"""``palermo network disrupt``: which arrests would dismantle the network? Strategies side by side,
and how far the network repairs itself afterwards.

Each strategy removes K nodes one at a time; after each removal we record the share of the
original nodes in the largest connected component, the number of components, Borgatti's
fragmentation F of what is left (the share of node pairs that can no longer reach each other)
and the share of the ties' total weight cut (the ties touching removed nodes: with payment
amounts as weights, the share of the money flow that no longer has both ends free). Strategies:
highest degree, highest betweenness recomputed after each removal (adaptive) and computed once up
front, highest PageRank, the greedy key-player set (Borgatti's KPP-NEG), random removal averaged
over seeds (the baseline every targeted strategy should beat), and any fixed removal orders the
caller supplies (e.g. the final exploiters or the money handlers of a workspace's inferred roles).
Deterministic: ties are broken by node name.

Recovery (criminal networks repair themselves; Duijn, Kashirin & Sloot 2014, "The relative
ineffectiveness of criminal network disruption", Scientific Reports 4:4238). After the K removals
of a strategy, the removals are replayed in their order and after each one the removed node's
remaining neighbours re-link, in one of two models:

- ``pairwise``: each pair of its neighbours not yet tied ties with probability p (the removed
  node's contacts find each other directly);
- ``takeover``: its neighbour with the most ties (ties to the smallest name) takes over each of
  its other ties with probability p (a deputy steps into the removed node's place).

A neighbour removed later re-links in turn, so a chain of removed nodes can be bridged. New ties
carry the weight the removed node's ties did (pairwise: the smaller of the two). The draws are
seeded: for p strictly between 0 and 1 a removal order is recovered with RECOVERY_SEEDS seeds and
the results averaged; random removal recovers each of its orders once (its own seed). p = 0
disables recovery.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import igraph as ig
import numpy as np

from palermo.errors import PalermoError
from palermo.network.analyze import _betweenness, build, fragmentation, key_players, read_edges

STRATEGIES = ("degree", "betweenness", "betweenness_once", "pagerank", "key_player", "random")
RANDOM_SEEDS = 20
RECOVERY_MODELS = ("pairwise", "takeover")
RECOVERY_SEEDS = 20
DEFAULT_RELINK = 0.5

STRATEGY_COLUMNS = ["strategy", "step", "removed_node", "lcc_fraction", "components",
                    "flow_cut_fraction", "fragmentation"]  # fmt: skip
RECOVERY_COLUMNS = ["strategy", "model", "relink_probability", "lcc_fraction_removed",
                    "lcc_fraction_recovered", "components_recovered", "fragmentation_removed",
                    "fragmentation_recovered", "new_ties", "runs"]  # fmt: skip


def _state(g: ig.Graph, n0: int, total_weight: float, removed_weight: float) -> dict[str, Any]:
    sizes = g.connected_components().sizes() if g.vcount() else [0]
    return {
        "lcc_fraction": max(sizes) / n0 if n0 else 0.0,
        "components": len(sizes) if g.vcount() else 0,
        "flow_cut_fraction": removed_weight / total_weight if total_weight else 0.0,
        "fragmentation": fragmentation(g),
    }


def _pick(h: ig.Graph, score: list[float]) -> int:
    """The vertex with the highest score; ties to the smallest name (deterministic)."""
    names = h.vs["name"]
    return min(range(h.vcount()), key=lambda v: (-score[v], names[v]))


def _run(g: ig.Graph, order: Callable[[ig.Graph], int] | list[str], k: int) -> list[dict[str, Any]]:
    """Remove k nodes (chosen by ``order`` on the remaining graph, or a fixed list of names)."""
    h = g.copy()
    n0 = g.vcount()
    # the flow cut counts an edge attribute "flow" when the graph has one (a workspace network:
    # the money on each tie), else the tie weight
    attr = "flow" if "flow" in g.es.attributes() else "weight"
    total = float(sum(g.es[attr])) if g.ecount() else 0.0
    removed_w = 0.0
    rows = [{"step": 0, "removed_node": "", **_state(h, n0, total, removed_w)}]
    fixed = list(order) if isinstance(order, list) else None
    for step in range(1, k + 1):
        if h.vcount() == 0:
            break
        if fixed is not None:
            if step > len(fixed):
                break
            v = h.vs.find(name=fixed[step - 1]).index
        else:
            v = order(h)  # type: ignore[operator]
        name = h.vs[v]["name"]
        removed_w += float(sum(h.es[e][attr] for e in h.incident(v)))
        h.delete_vertices([v])
        rows.append({"step": step, "removed_node": name, **_state(h, n0, total, removed_w)})
    return rows


def _check_fixed(g: ig.Graph, fixed: dict[str, list[str]] | None) -> dict[str, list[str]]:
    if not fixed:
        return {}
    known = set(g.vs["name"])
    for name, order in fixed.items():
        if not name or name in STRATEGIES or name == "all":
            raise PalermoError(
                f"strategy name {name!r} is taken (built in: {', '.join(STRATEGIES)}, all)"
            )
        missing = [n for n in order if n not in known]
        if missing:
            raise PalermoError(
                f"strategy {name!r}: not in the network: {', '.join(map(str, missing[:5]))}"
            )
        if len(set(order)) != len(order):
            raise PalermoError(f"strategy {name!r}: a node is listed twice")
    return {name: list(order) for name, order in fixed.items()}


def simulate(
    g: ig.Graph, k: int, strategies: list[str], fixed: dict[str, list[str]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Run each strategy (removing up to k nodes) and return its rows: step 0 = the intact
    network, then one per removal (removed_node, lcc_fraction, components, flow_cut_fraction,
    fragmentation). ``fixed`` adds caller-supplied strategies, {name: [node names in removal
    order]}; they are run after the built-in ones, in the dict's order (a list shorter than k
    removes only its nodes)."""
    extra = _check_fixed(g, fixed)
    out: dict[str, list[dict[str, Any]]] = {}
    for s in strategies:
        if s == "degree":
            out[s] = _run(g, lambda h: _pick(h, [float(d) for d in h.degree()]), k)
        elif s == "betweenness":
            out[s] = _run(g, lambda h: _pick(h, _betweenness(h)), k)
        elif s == "betweenness_once":
            btw = _betweenness(g)
            names = g.vs["name"]
            ranked = sorted(range(g.vcount()), key=lambda v: (-btw[v], names[v]))[:k]
            out[s] = _run(g, [names[v] for v in ranked], k)
        elif s == "pagerank":
            out[s] = _run(g, lambda h: _pick(h, h.pagerank(weights="weight")), k)
        elif s == "key_player":
            names = g.vs["name"]
            out[s] = _run(g, [names[v] for v in key_players(g, k)], k)
        elif s == "random":
            out[s] = _random(g, k)
        else:
            raise PalermoError(f"unknown strategy {s!r} (known: {', '.join(STRATEGIES)}, all)")
    for name, order in extra.items():
        out[name] = _run(g, order, k)
    return out


def _random_orders(g: ig.Graph, k: int) -> list[list[str]]:
    names = g.vs["name"]
    return [
        [names[int(v)] for v in np.random.default_rng(seed).permutation(g.vcount())[:k]]
        for seed in range(RANDOM_SEEDS)
    ]


def _random(g: ig.Graph, k: int) -> list[dict[str, Any]]:
    """Random removal, the average over RANDOM_SEEDS orders (removed_node left empty)."""
    runs = [_run(g, order, k) for order in _random_orders(g, k)]
    steps = min(len(r) for r in runs)
    keys = ("lcc_fraction", "components", "flow_cut_fraction", "fragmentation")
    return [
        {
            "step": i,
            "removed_node": "",
            **{c: float(np.mean([r[i][c] for r in runs])) for c in keys},
        }
        for i in range(steps)
    ]


def removal_orders(
    g: ig.Graph, k: int, results: dict[str, list[dict[str, Any]]]
) -> dict[str, list[list[str]]]:
    """The removal order(s) behind each strategy's rows: one list of names, or RANDOM_SEEDS
    lists for random removal."""
    return {
        s: _random_orders(g, k) if s == "random" else [[r["removed_node"] for r in rows[1:]]]
        for s, rows in results.items()
    }


class _Ties:
    """A graph as arrays (the re-linking adds many ties; numpy keeps that fast)."""

    def __init__(self, g: ig.Graph) -> None:
        self.n = g.vcount()
        self.names: list[str] = g.vs["name"]
        self.rank = np.empty(self.n, dtype=np.int64)  # position in name order
        self.rank[sorted(range(self.n), key=self.names.__getitem__)] = np.arange(self.n)
        self.index = {name: i for i, name in enumerate(self.names)}
        edges = np.array(g.get_edgelist(), dtype=np.int64).reshape(-1, 2)
        self.src, self.dst = edges[:, 0].copy(), edges[:, 1].copy()
        self.weight = np.array(g.es["weight"] if g.ecount() else [], dtype=np.float64)


def _relink(
    base: _Ties, removed: list[str], model: str, p: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The re-linking itself: returns alive (per node), and the remaining ties' ends, weights
    and whether each is new."""
    if model not in RECOVERY_MODELS:
        raise PalermoError(
            f"unknown recovery model {model!r} (known: {', '.join(RECOVERY_MODELS)})"
        )
    n = base.n
    src, dst, w = base.src, base.dst, base.weight
    new = np.zeros(len(src), dtype=bool)
    alive = np.ones(n, dtype=bool)
    for name in removed:
        v = base.index[name]
        at = (src == v) | (dst == v)
        other = np.where(src[at] == v, dst[at], src[at])
        ok = other != v
        uniq, inv = np.unique(other[ok], return_inverse=True)
        summed = np.bincount(inv, weights=w[at][ok], minlength=len(uniq))
        by_name = np.argsort(base.rank[uniq], kind="stable")
        nbrs, tie = uniq[by_name], summed[by_name]  # v's neighbours in name order, tie weights
        a: np.ndarray = np.empty(0, dtype=np.int64)
        b: np.ndarray = a
        ww: np.ndarray = np.empty(0)
        if len(nbrs) >= 2 and model == "pairwise":
            iu, ju = np.triu_indices(len(nbrs), 1)
            keep = rng.random(len(iu)) < p
            iu, ju = iu[keep], ju[keep]
            a, b, ww = nbrs[iu], nbrs[ju], np.minimum(tie[iu], tie[ju])
        elif len(nbrs) >= 2:
            degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
            heir = int(np.lexsort((base.rank[nbrs], -degree[nbrs]))[0])  # most ties, then name
            others = np.delete(np.arange(len(nbrs)), heir)
            others = others[rng.random(len(others)) < p]
            a, b, ww = np.full(len(others), nbrs[heir]), nbrs[others], tie[others]
        keep = ~at
        src, dst, w, new = src[keep], dst[keep], w[keep], new[keep]
        alive[v] = False
        if len(a):
            among = np.zeros(n, dtype=bool)
            among[nbrs] = True
            inside = among[src] & among[dst]  # ties already there between v's neighbours
            tied = np.minimum(src[inside], dst[inside]) * n + np.maximum(src[inside], dst[inside])
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            fresh = ~np.isin(lo * n + hi, tied)
            src = np.concatenate([src, lo[fresh]])
            dst = np.concatenate([dst, hi[fresh]])
            w = np.concatenate([w, ww[fresh]])
            new = np.concatenate([new, np.ones(int(fresh.sum()), dtype=bool)])
    return alive, src, dst, w, new


def recover(
    g: ig.Graph, removed: list[str], model: str, p: float, rng: np.random.Generator
) -> tuple[ig.Graph, int]:
    """Remove ``removed`` from g in order; after each removal its neighbours re-link by
    ``model`` (pairwise or takeover, see the module docstring) with probability p. Returns the
    graph of the remaining nodes, new ties included (edge attribute "new"), and how many new
    ties it has."""
    base = _Ties(g)
    alive, src, dst, w, new = _relink(base, removed, model, p, rng)
    keep = np.flatnonzero(alive)
    renumber = np.full(base.n, -1, dtype=np.int64)
    renumber[keep] = np.arange(len(keep))
    h = ig.Graph(n=len(keep), edges=np.column_stack([renumber[src], renumber[dst]]).tolist())
    h.vs["name"] = [base.names[i] for i in keep.tolist()]
    h.es["weight"] = w.tolist()
    h.es["new"] = new.tolist()
    return h, int(new.sum())


def recovery(g: ig.Graph, orders: list[list[str]], model: str, p: float) -> dict[str, float | int]:
    """Recover after each removal order (several orders: one seeded run each; one order with
    0 < p < 1: RECOVERY_SEEDS seeded runs) and average: lcc_fraction (of the original nodes),
    components, fragmentation (Borgatti's F of the remaining nodes), new_ties, runs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    base = _Ties(g)
    n0 = base.n
    if len(orders) > 1:
        plan = [(order, i) for i, order in enumerate(orders)]
    else:
        seeds = RECOVERY_SEEDS if 0 < p < 1 else 1
        plan = [(orders[0], i) for i in range(seeds)]
    lcc, comps, frag, new = [], [], [], []
    for order, seed in plan:
        alive, src, dst, _, fresh = _relink(base, order, model, p, np.random.default_rng([seed, 7]))
        adjacency = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n0, n0))
        _, label = connected_components(adjacency, directed=False)
        sizes = np.bincount(label[alive]).astype(np.float64)
        sizes = sizes[sizes > 0]
        m = float(alive.sum())
        lcc.append(float(sizes.max()) / n0 if len(sizes) else 0.0)
        comps.append(len(sizes))
        # Borgatti's F, as analyze.fragmentation: the share of node pairs that cannot meet
        frag.append(float(1.0 - (sizes * (sizes - 1)).sum() / (m * (m - 1))) if m >= 2 else 0.0)
        new.append(int(fresh.sum()))
    return {
        "lcc_fraction": float(np.mean(lcc)),
        "components": float(np.mean(comps)),
        "fragmentation": float(np.mean(frag)),
        "new_ties": float(np.mean(new)),
        "runs": len(plan),
    }


def disrupt(
    path: Path,
    *,
    source: str | None = None,
    target: str | None = None,
    weight: str | None = None,
    k: int = 10,
    strategies: str = "all",
    out: Path,
    relink: float = DEFAULT_RELINK,
) -> dict[str, Any]:
    if k < 1:
        raise PalermoError(f"--k {k}: remove at least one node")
    chosen = (
        list(STRATEGIES)
        if strategies == "all"
        else [s.strip() for s in strategies.split(",") if s.strip()]
    )
    _check_strategies(chosen)
    _check_relink(relink)
    edges = read_edges(path, source, target, weight)
    g = build(edges)
    summary = disrupt_graph(g, k=k, strategies=chosen, fixed=None, out=out, relink=relink)
    summary["notes"] = edges.notes
    return summary


def _check_strategies(chosen: list[str]) -> None:
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        raise PalermoError(
            f"unknown strategy {', '.join(unknown)} (known: {', '.join(STRATEGIES)}, all)"
        )


def _check_relink(p: float) -> None:
    if not (math.isfinite(p) and 0 <= p <= 1):
        raise PalermoError(f"--relink {p}: a probability between 0 and 1 (0: no recovery)")


def disrupt_graph(
    g: ig.Graph,
    *,
    k: int,
    strategies: list[str],
    fixed: dict[str, list[str]] | None = None,
    out: Path,
    relink: float = DEFAULT_RELINK,
    models: tuple[str, ...] = RECOVERY_MODELS,
) -> dict[str, Any]:
    """Everything ``disrupt`` does once the graph is built (vertex attribute "name", edge
    attribute "weight"): run the strategies (and the ``fixed`` removal orders) for k removals,
    recover with probability ``relink`` (0: no recovery), write strategies.csv, recovery.csv
    (when relink > 0), strategies.png and strategies.svg into ``out``, return the summary."""
    if k < 1:
        raise PalermoError(f"--k {k}: remove at least one node")
    _check_strategies(strategies)
    _check_relink(relink)
    if g.vcount() < 2:
        raise PalermoError(f"a graph needs at least 2 nodes; this one has {g.vcount()}")
    k = min(k, g.vcount())
    results = simulate(g, k, strategies, fixed)
    names = list(results)
    recovered: dict[str, dict[str, dict[str, float | int]]] = {}
    if relink > 0:
        orders = removal_orders(g, k, results)
        for s in names:
            recovered[s] = {m: recovery(g, orders[s], m, relink) for m in models}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "strategies.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(STRATEGY_COLUMNS)
        for s in names:
            for r in results[s]:
                w.writerow([s, r["step"], r["removed_node"], round(r["lcc_fraction"], 6),
                            round(r["components"], 3) if s == "random" else int(r["components"]),
                            round(r["flow_cut_fraction"], 6), round(r["fragmentation"], 6)])  # fmt: skip
    if recovered:
        with (out / "recovery.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(RECOVERY_COLUMNS)
            for s in names:
                last = results[s][-1]
                for m in models:
                    rec = recovered[s][m]
                    w.writerow([s, m, relink, round(last["lcc_fraction"], 6),
                                round(rec["lcc_fraction"], 6), _count(rec["components"], rec["runs"]),
                                round(last["fragmentation"], 6), round(rec["fragmentation"], 6),
                                _count(rec["new_ties"], rec["runs"]), rec["runs"]])  # fmt: skip
    elif (out / "recovery.csv").exists():
        (out / "recovery.csv").unlink()  # a stale file from an earlier run with recovery
    _plot(results, names, g.vcount(), out, recovered, models, relink)
    final = {s: round(results[s][-1]["lcc_fraction"], 4) for s in names}
    return {
        "nodes": g.vcount(),
        "edges": g.ecount(),
        "k": k,
        "strategies": names,
        "lcc_fraction_after_k": final,
        "best": min(final, key=lambda s: (final[s], s)),
        "fragmentation_after_k": {s: round(results[s][-1]["fragmentation"], 4) for s in names},
        "relink": relink,
        "recovery_models": list(models) if recovered else [],
        "lcc_fraction_recovered": {
            s: {m: round(float(recovered[s][m]["lcc_fraction"]), 4) for m in models}
            for s in recovered
        },
        "notes": [],
        "out": str(out),
    }


def _count(x: float | int, runs: float | int) -> float | int:
    """A count: an integer for a single run, the mean (3 decimals) over several."""
    return int(x) if runs == 1 else round(float(x), 3)


def _plot(
    results: dict[str, list[dict[str, Any]]],
    chosen: list[str],
    n: int,
    out: Path,
    recovered: dict[str, dict[str, dict[str, float | int]]] | None = None,
    models: tuple[str, ...] = RECOVERY_MODELS,
    relink: float = 0.0,
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "palermo"  # stable element ids in the SVG

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    rec = recovered or {}
    model = models[0] if rec and models else None
    for s in chosen:
        xs = [r["step"] for r in results[s]]
        ys = [r["lcc_fraction"] for r in results[s]]
        (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=s.replace("_", " "))
        if model is not None and s in rec:
            y = float(rec[s][model]["lcc_fraction"])
            ax.plot([xs[-1], xs[-1] + 0.3], [ys[-1], y], linestyle=":", color=line.get_color())
            ax.plot([xs[-1] + 0.3], [y], marker="o", markersize=6, markerfacecolor="none",
                    color=line.get_color())  # fmt: skip
    if model is not None:
        ax.plot([], [], marker="o", markersize=6, markerfacecolor="none", linestyle=":",
                color="grey", label=f"after re-linking ({model}, p={relink:g})")  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("nodes removed")
    ax.set_ylabel("largest component (share of the network)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Disruption strategies ({n} nodes)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    # no timestamps or tool versions in the files: the same input gives the same bytes
    fig.savefig(out / "strategies.png", metadata={"Software": None})
    fig.savefig(out / "strategies.svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
