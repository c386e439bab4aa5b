"""The greedy key-player search reads the pieces an articulation point leaves off the block-cut
tree instead of cutting each candidate out: on random graphs its choice and its figures must be
those of cutting the nodes out for real."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pytest

from palermo.network.analyze import _cut_pieces, fragmentation, key_players


def _random_graph(seed: int) -> ig.Graph:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 60))
    g = ig.Graph.Erdos_Renyi(n=n, m=int(rng.integers(n // 2, 2 * n)))
    # trees and chains hanging off it: articulation points on purpose
    extra = [(int(rng.integers(0, n)), n + i) for i in range(int(rng.integers(0, 10)))]
    g.add_vertices(len(extra))
    g.add_edges(extra)
    g.vs["name"] = [f"v{i:03d}" for i in range(g.vcount())]
    g.es["weight"] = [1.0] * g.ecount()
    return g


@pytest.mark.parametrize("seed", range(25))
def test_cut_pieces_equal_cutting_the_node_out(seed: int) -> None:
    g = _random_graph(seed)
    trees, arts = ig.GraphBase.biconnected_components(g, True)
    comps = g.connected_components()
    sizes = np.array(comps.sizes(), dtype=np.float64)
    pieces = _cut_pieces(g, trees, arts, sizes, comps.membership)
    for v in arts:
        h = g.copy()
        h.delete_vertices([v])
        # pairs still connected inside what was v's component
        mine = {u for u in range(g.vcount()) if comps.membership[u] == comps.membership[v]} - {v}
        index = [u if u < v else u - 1 for u in mine]
        sub = h.induced_subgraph(index).connected_components().sizes()
        assert pieces[v] == sum(p * (p - 1) for p in sub)


@pytest.mark.parametrize("seed", range(15))
def test_greedy_choice_equals_brute_force_greedy(seed: int) -> None:
    g = _random_graph(100 + seed)
    k = 3
    chosen = key_players(g, k, candidates=g.vcount())  # every node a candidate: exact greedy
    h = g.copy()
    h.vs["orig"] = list(range(g.vcount()))
    expected = []
    for _ in range(k):
        if h.ecount() == 0:
            break
        best, best_f = None, -1.0
        for v in range(h.vcount()):
            t = h.copy()
            t.delete_vertices([v])
            f = fragmentation(t)
            if f > best_f + 1e-12:
                best, best_f = v, f
        expected.append(h.vs[best]["orig"])
        h.delete_vertices([best])
    assert chosen == expected
