"""A Bayesian latent-class model for capture-recapture with heterogeneous catchability, in the
spirit of LCMCR (Manrique-Vallier 2016, "Bayesian population size estimation using Dirichlet
process mixtures", Biometrics 72): the population is a mixture of up to ``K`` classes
(stick-breaking prior, truncated: a Dirichlet process in the limit), lists are independent
*within* a class, each class with its own capture probabilities; the prior on the population
size is p(N) proportional to 1/N. A Gibbs sampler with data augmentation of the unseen:

1. classes of the observed, per capture history (multinomial over the classes' posterior weights);
2. the number unseen, n0 ~ NegativeBinomial(n, 1 - p0), p0 = sum_k pi_k prod_j (1 - lambda_jk)
   (the probability of being on no list), and their classes (multinomial);
3. lambda_jk ~ Beta(1 + captures, 1 + misses) over everyone in class k, seen or not;
4. stick-breaking weights V_k ~ Beta(1 + n_k, alpha + n_{>k}); alpha ~ Gamma(a + K - 1,
   b - sum log(1 - V_k)) (a = b = 0.25, as LCMCR's defaults).

Hand-written in NumPy: no maintained Python package implements this sampler (LCMCR is R/C++,
needs GSL); it works on the 2^L - 1 aggregated histories, so a sweep costs O(cells x K x L).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from palermo.errors import PalermoError
from palermo.estimate.mse import Table


def lcm_estimate(
    t: Table, *, classes: int = 10, samples: int = 4000, burnin: int = 1000, thin: int = 2,
    seed: int = 1, level: float = 0.95,
) -> dict[str, Any]:  # fmt: skip
    if classes < 1 or samples < 10 or burnin < 0 or thin < 1:
        raise PalermoError("--classes >= 1, --samples >= 10, --burnin >= 0, --thin >= 1")
    rng = np.random.default_rng(seed)
    h = t.histories.astype(np.float64)  # cells x L
    y = t.counts.astype(np.int64)
    n = int(y.sum())
    if n == 0:
        raise PalermoError("no case on any list")
    k_, l_ = classes, h.shape[1]
    a0 = b0 = 0.25
    lam = rng.uniform(0.2, 0.8, size=(l_, k_))
    v = np.append(rng.beta(1, 1, k_ - 1), 1.0)
    alpha = 1.0
    draws = []
    for it in range(burnin + samples * thin):
        pi = v * np.concatenate([[1.0], np.cumprod(1 - v[:-1])])
        # 1. classes of the observed, per cell
        loglik = h @ np.log(lam) + (1 - h) @ np.log1p(-lam)  # cells x K
        w = np.log(np.maximum(pi, 1e-300)) + loglik
        w = np.exp(w - w.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        seen = np.zeros((len(y), k_), dtype=np.int64)
        for c in np.flatnonzero(y):
            seen[c] = rng.multinomial(y[c], w[c])
        # 2. the unseen: how many, and their classes
        miss = np.prod(1 - lam, axis=0)  # K: P(on no list | class)
        p0 = float(np.dot(pi, miss))
        n0 = int(rng.negative_binomial(n, 1 - p0)) if p0 < 1 else 0
        q = pi * miss
        unseen = rng.multinomial(n0, q / q.sum()) if n0 and q.sum() > 0 else np.zeros(k_, int)
        # 3. capture probabilities per list and class (the unseen missed every list)
        caught = h.T @ seen  # L x K
        size = seen.sum(axis=0) + unseen  # K
        lam = rng.beta(1 + caught, 1 + (size - caught))
        lam = np.clip(lam, 1e-9, 1 - 1e-9)
        # 4. stick-breaking weights and their concentration
        after = np.concatenate([np.cumsum(size[::-1])[::-1][1:], [0]])
        v = np.append(rng.beta(1 + size[:-1], alpha + after[:-1]), 1.0)
        v = np.clip(v, 1e-12, 1 - 1e-12)
        alpha = rng.gamma(a0 + k_ - 1, 1 / (b0 - np.log1p(-v[:-1]).sum()))
        if it >= burnin and (it - burnin) % thin == 0:
            draws.append(n + n0)
    d = np.asarray(draws, dtype=np.float64)
    lo, hi = np.quantile(d, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {
        "lists": t.lists,
        "observed": n,
        "method": "lcm",
        "model": {
            "terms": [f"latent classes (up to {classes}), lists independent within a class"],
            "why": "Bayesian latent-class model for heterogeneous capture probabilities"
            " (Manrique-Vallier 2016, LCMCR's model), Gibbs sampler, p(N) ~ 1/N",
            "samples": len(d),
            "burnin": burnin,
            "thin": thin,
            "seed": seed,
        },
        "hidden": round(float(np.median(d)) - n, 1),
        "total": round(float(np.median(d)), 1),
        "posterior_mean_total": round(float(d.mean()), 1),
        "interval": {
            "method": f"posterior {level:.0%} credible interval (quantiles)",
            "hidden": [round(float(lo) - n, 1), round(float(hi) - n, 1)],
            "total": [round(float(lo), 1), round(float(hi), 1)],
        },
        "models_tried": [],
        "warnings": [],
        "source": t.source,
    }
