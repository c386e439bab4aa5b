"""``palermo network disrupt``: which arrests would dismantle the network? Strategies side by side.

Each strategy removes K nodes one at a time; after each removal we record the share of the
original nodes in the largest connected component, the number of components and the share of the
ties' total weight cut (the ties touching removed nodes: with payment amounts as weights, the
share of the money flow that no longer has both ends free). Strategies: highest degree, highest
betweenness recomputed after each removal (adaptive) and computed once up front, highest PageRank,
the greedy key-player set (Borgatti's KPP-NEG), and random removal averaged over seeds (the
baseline every targeted strategy should beat). Deterministic: ties are broken by node name.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import igraph as ig
import numpy as np

from palermo.errors import PalermoError
from palermo.network.analyze import _betweenness, build, key_players, read_edges

STRATEGIES = ("degree", "betweenness", "betweenness_once", "pagerank", "key_player", "random")
RANDOM_SEEDS = 20


def _state(
    g: ig.Graph, n0: int, total_weight: float, removed_weight: float
) -> tuple[float, int, float]:
    sizes = g.connected_components().sizes() if g.vcount() else [0]
    lcc = max(sizes) / n0 if n0 else 0.0
    return (
        lcc,
        len(sizes) if g.vcount() else 0,
        removed_weight / total_weight if total_weight else 0.0,
    )


def _pick(h: ig.Graph, score: list[float]) -> int:
    """The vertex with the highest score; ties to the smallest name (deterministic)."""
    names = h.vs["name"]
    return min(range(h.vcount()), key=lambda v: (-score[v], names[v]))


def _run(g: ig.Graph, order: Callable[[ig.Graph], int] | list[str], k: int) -> list[dict[str, Any]]:
    """Remove k nodes (chosen by ``order`` on the remaining graph, or a fixed list of names)."""
    h = g.copy()
    n0 = g.vcount()
    total = float(sum(g.es["weight"])) if g.ecount() else 0.0
    removed_w = 0.0
    lcc, comps, cut = _state(h, n0, total, removed_w)
    rows = [
        {
            "step": 0,
            "removed_node": "",
            "lcc_fraction": lcc,
            "components": comps,
            "flow_cut_fraction": cut,
        }
    ]
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
        removed_w += float(sum(h.es[e]["weight"] for e in h.incident(v)))
        h.delete_vertices([v])
        lcc, comps, cut = _state(h, n0, total, removed_w)
        rows.append(
            {
                "step": step,
                "removed_node": name,
                "lcc_fraction": lcc,
                "components": comps,
                "flow_cut_fraction": cut,
            }
        )
    return rows


def simulate(g: ig.Graph, k: int, strategies: list[str]) -> dict[str, list[dict[str, Any]]]:
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
    return out


def _random(g: ig.Graph, k: int) -> list[dict[str, Any]]:
    """Random removal, the average over RANDOM_SEEDS orders (removed_node left empty)."""
    runs = []
    names = g.vs["name"]
    for seed in range(RANDOM_SEEDS):
        perm = np.random.default_rng(seed).permutation(g.vcount())[:k]
        runs.append(_run(g, [names[int(v)] for v in perm], k))
    steps = min(len(r) for r in runs)
    return [
        {
            "step": i,
            "removed_node": "",
            "lcc_fraction": float(np.mean([r[i]["lcc_fraction"] for r in runs])),
            "components": float(np.mean([r[i]["components"] for r in runs])),
            "flow_cut_fraction": float(np.mean([r[i]["flow_cut_fraction"] for r in runs])),
        }
        for i in range(steps)
    ]


def disrupt(
    path: Path,
    *,
    source: str | None = None,
    target: str | None = None,
    weight: str | None = None,
    k: int = 10,
    strategies: str = "all",
    out: Path,
) -> dict[str, Any]:
    if k < 1:
        raise PalermoError(f"--k {k}: remove at least one node")
    chosen = (
        list(STRATEGIES)
        if strategies == "all"
        else [s.strip() for s in strategies.split(",") if s.strip()]
    )
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        raise PalermoError(
            f"unknown strategy {', '.join(unknown)} (known: {', '.join(STRATEGIES)}, all)"
        )
    edges = read_edges(path, source, target, weight)
    g = build(edges)
    k = min(k, g.vcount())
    results = simulate(g, k, chosen)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "strategies.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["strategy", "step", "removed_node", "lcc_fraction", "components", "flow_cut_fraction"]
        )
        for s in chosen:
            for r in results[s]:
                w.writerow([s, r["step"], r["removed_node"], round(r["lcc_fraction"], 6),
                            round(r["components"], 3) if s == "random" else int(r["components"]),
                            round(r["flow_cut_fraction"], 6)])  # fmt: skip
    _plot(results, chosen, g.vcount(), out)
    final = {s: round(results[s][-1]["lcc_fraction"], 4) for s in chosen}
    return {
        "nodes": g.vcount(),
        "edges": g.ecount(),
        "k": k,
        "strategies": chosen,
        "lcc_fraction_after_k": final,
        "best": min(final, key=lambda s: (final[s], s)),
        "notes": edges.notes,
        "out": str(out),
    }


def _plot(results: dict[str, list[dict[str, Any]]], chosen: list[str], n: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "palermo"  # stable element ids in the SVG

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for s in chosen:
        xs = [r["step"] for r in results[s]]
        ys = [r["lcc_fraction"] for r in results[s]]
        ax.plot(xs, ys, marker="o", markersize=3, label=s.replace("_", " "))
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
