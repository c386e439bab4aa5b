"""Multiple-systems estimation (capture-recapture over several lists) of a hidden population:
Poisson log-linear models of the 2^L - 1 observed capture histories, the unseen cell being
exp(intercept) (Fienberg 1972; as the UK Home Office study did, Silverman 2014).

- Models: main effects of each list plus a chosen set of two-list interactions (list
  dependence: police refer to NGOs). Fitted by statsmodels' GLM (Poisson, log link).
- Existence and identifiability, before any model is trusted (as SparseMSE's ``checkident``,
  Chan, Silverman & Vincent 2021): the design restricted to the observed cells must have full
  column rank (else a parameter, the unseen cell among them, is not identified), and the maximum
  likelihood estimate must exist (Fienberg & Rinaldo 2012: it does not when a direction ``d``
  with ``X d >= 0`` on the zero cells, ``X d = 0`` on the others, ``X d != 0`` exists; found by a
  linear program, SciPy). A model failing either is dropped, and said so. An interaction is only
  a candidate when its two lists share at least ``threshold`` cases (SparseMSE's threshold on
  overlap counts).
- Selection: forward stepwise from the main effects, adding at each step the interaction that
  lowers the criterion (AIC, or BIC with the log of the cases seen, as Rcapture) most, until
  none does; or SparseMSE's rule (``stepwisefit``): the interaction whose overlap count is least
  likely, as a Poisson tail, under the current fit, while that p-value is below ``pthresh``
  (0.02); or ``main`` (independence).
- Lists that share no case: their interaction, where a model has it (``threshold`` 0), is at
  minus infinity (the extended MLE of Chan, Silverman & Vincent 2021): the histories holding
  both lists are structural zeros, out of the fit, the parameter still counted in AIC/BIC.
- Intervals: profile likelihood for the unseen cell (the intercept held at each value, the rest
  refitted, chi-square(1) at 95%), and, on request, a parametric bootstrap (counts drawn from the
  fitted model, the selected model refitted on each: the selection is not repeated, which the
  output says).

Hand-written here: the model search and the existence check (neither is in statsmodels); every
fit is statsmodels'.
"""

from __future__ import annotations

import csv
import itertools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import brentq, linprog
from scipy.stats import chi2, poisson

from palermo.errors import PalermoError

METHODS = ("aic", "bic", "pvalue", "main")


@dataclass
class Table:
    lists: list[str]
    histories: np.ndarray  # (2^L - 1, L) 0/1, every observed history, in a fixed order
    counts: np.ndarray  # (2^L - 1,) cases with that history (0 where none)
    source: str = ""

    @property
    def observed(self) -> int:
        return int(self.counts.sum())


@dataclass
class Fit:
    terms: list[tuple[int, int]]  # the two-list interactions, by list index
    hidden: float
    loglik: float
    aic: float
    bic: float
    params: dict[str, float]
    deviance: float
    df_resid: int
    ok: bool = True
    why: str = ""
    fitted: np.ndarray = field(default_factory=lambda: np.zeros(0))
    empty: list[tuple[int, int]] = field(default_factory=list)  # interactions at minus infinity


def read_counts(path: Path) -> Table:
    """An overlap table: one 0/1 column per list and ``count``; each history at most once."""
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: not found")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
        names = [n.strip() for n in (rows[0].keys() if rows else [])]
    if not rows:
        raise PalermoError(f"{path}: no rows (a header with one 0/1 column per list and count)")
    if "count" not in names:
        raise PalermoError(f"{path}: no 'count' column (columns: {', '.join(names)})")
    lists = [n for n in names if n != "count"]
    if len(lists) < 2:
        raise PalermoError(f"{path}: {len(lists)} list column(s): at least two lists are needed")
    seen: dict[tuple[int, ...], int] = {}
    counts: dict[tuple[int, ...], int] = {}
    for k, r in enumerate(rows, start=2):
        r = {(key or "").strip(): (v or "").strip() for key, v in r.items()}
        hist = []
        for name in lists:
            if r[name] not in ("0", "1"):
                raise PalermoError(f"{path}, row {k}, field {name}: {r[name]!r} is not 0 or 1")
            hist.append(int(r[name]))
        h = tuple(hist)
        if not any(h):
            raise PalermoError(
                f"{path}, row {k}: a capture history of all zeros (the unseen cell is what is"
                " estimated, not given)"
            )
        try:
            n = int(float(r["count"]))
        except ValueError:
            raise PalermoError(
                f"{path}, row {k}, field count: {r['count']!r} is not a number"
            ) from None
        if n < 0 or float(r["count"]) != n:
            raise PalermoError(f"{path}, row {k}, field count: {r['count']!r} is not a count >= 0")
        if h in seen:
            raise PalermoError(f"{path}, row {k}: the same capture history as row {seen[h]}")
        seen[h], counts[h] = k, n
    return table_from(lists, counts, str(path))


def table_from(lists: list[str], counts: dict[tuple[int, ...], int], source: str = "") -> Table:
    hist = [h for h in itertools.product((0, 1), repeat=len(lists)) if any(h)]
    return Table(
        lists,
        np.array(hist, dtype=np.int64),
        np.array([counts.get(h, 0) for h in hist], dtype=np.float64),
        source,
    )


def _empty(t: Table, terms: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The interactions whose two lists share no case: their extended MLE is minus infinity."""
    return [(a, b) for a, b in terms if overlap(t, a, b) == 0]


def _kept(t: Table, terms: list[tuple[int, int]]) -> np.ndarray:
    """The cells the model can fill: an interaction at minus infinity makes every history holding
    both its lists a structural zero, so those cells leave the fit (SparseMSE's ``buildmodel``)."""
    keep = np.ones(len(t.counts), dtype=bool)
    for a, b in _empty(t, terms):
        keep &= ~((t.histories[:, a] == 1) & (t.histories[:, b] == 1))
    return keep


def _design(t: Table, terms: list[tuple[int, int]]) -> np.ndarray:
    """Intercept, main effects and the interactions that are estimated (not at minus infinity),
    on the cells the model can fill."""
    keep, free = _kept(t, terms), [p for p in terms if p not in _empty(t, terms)]
    h = t.histories[keep]
    cols = [np.ones(len(h))] + [h[:, i] for i in range(len(t.lists))]
    cols += [h[:, a] * h[:, b] for a, b in free]
    return np.column_stack(cols).astype(np.float64)


def _names(t: Table, terms: list[tuple[int, int]]) -> list[str]:
    free = [p for p in terms if p not in _empty(t, terms)]
    return ["intercept", *t.lists, *(f"{t.lists[a]}:{t.lists[b]}" for a, b in free)]


def check(t: Table, terms: list[tuple[int, int]]) -> str:
    """'' when the model's (extended) MLE exists and is identifiable on this table, else why
    not; an interaction of two lists that share no case is at minus infinity, its cells out."""
    x, y = _design(t, terms), t.counts[_kept(t, terms)]
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return "not identifiable: the design has fewer independent cells than parameters"
    zero, pos = y == 0, y > 0
    if not zero.any():
        return ""
    # Fienberg & Rinaldo: no MLE iff some d gives X d >= 0 on the zero cells, = 0 on the
    # positive ones, and > 0 somewhere: maximise the sum over zero cells of X d, capped at 1
    xz, xp = x[zero], x[pos]
    res = linprog(
        -xz.sum(axis=0),
        A_ub=np.vstack([xz, -xz]),
        b_ub=np.concatenate([np.ones(len(xz)), np.zeros(len(xz))]),
        A_eq=xp if len(xp) else None,
        b_eq=np.zeros(len(xp)) if len(xp) else None,
        bounds=[(None, None)] * x.shape[1],
        method="highs",
    )
    if res.status == 0 and -res.fun > 1e-7:
        return "the maximum likelihood estimate does not exist (zero cells leave it unbounded)"
    return ""


def fit(t: Table, terms: list[tuple[int, int]], offset: float | None = None) -> Fit:
    """The model with these interactions (``offset``: the intercept held at that value)."""
    import statsmodels.api as sm

    why = check(t, terms)
    if why:
        return Fit(terms, math.nan, -math.inf, math.inf, math.inf, {}, math.nan, 0, False, why)
    x, keep = _design(t, terms), _kept(t, terms)
    y = t.counts[keep]
    if offset is not None:
        model = sm.GLM(y, x[:, 1:], family=sm.families.Poisson(),
                       offset=np.full(len(y), offset))  # fmt: skip
    else:
        model = sm.GLM(y, x, family=sm.families.Poisson())
    with warnings.catch_warnings():
        # identifiability and existence are checked above; statsmodels' own warnings on
        # saturated fits (no residual degrees of freedom) say nothing more
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="Perfect separation")
        r = model.fit()
    params = np.asarray(r.params, dtype=np.float64)
    b0 = float(offset) if offset is not None else float(params[0])
    # every parameter counts in the penalties, those at minus infinity too (as SparseMSE's AIC)
    k = 1 + len(t.lists) + len(terms)
    ll = float(r.llf)
    fitted = np.zeros(len(t.counts))
    fitted[keep] = np.asarray(r.fittedvalues, dtype=np.float64)  # structural zeros stay 0
    return Fit(
        terms=terms,
        hidden=math.exp(b0),
        loglik=ll,
        aic=2 * k - 2 * ll,
        # log of the cases seen, not of the cells: Rcapture's BIC, as Silverman, Chan & Vincent
        # (2024) use it; with it the published BIC-chosen UK and Kosovo figures are reproduced
        bic=k * math.log(max(t.observed, 2)) - 2 * ll,
        params=dict(
            zip(_names(t, terms)[1 if offset is not None else 0 :], params.tolist(), strict=True)
        ),
        deviance=float(r.deviance),
        df_resid=int(r.df_resid),
        fitted=fitted,
        empty=_empty(t, terms),
    )


def overlap(t: Table, a: int, b: int) -> int:
    both = (t.histories[:, a] == 1) & (t.histories[:, b] == 1)
    return int(t.counts[both].sum())


def overlap_p_value(t: Table, current: Fit, a: int, b: int) -> float:
    """How surprising the cases on both lists a and b are under the current model: the overlap
    N*_ab against a Poisson of mean the fitted count of every history holding both, the smaller
    tail (SparseMSE's ``stepwisefit``, Chan, Silverman & Vincent 2021, section 3.2). The overlap
    alone is what the interaction would fit, so no refit is needed to score it."""
    both = (t.histories[:, a] == 1) & (t.histories[:, b] == 1)
    mean, seen = float(current.fitted[both].sum()), overlap(t, a, b)
    return float(min(poisson.cdf(seen, mean), poisson.sf(seen - 1, mean)))


def select(
    t: Table, method: str = "aic", threshold: int = 1, pthresh: float = 0.02
) -> tuple[Fit, list[dict[str, Any]]]:
    """Forward stepwise from the main effects by AIC, BIC or p-value (SparseMSE's
    ``stepwisefit``: the interaction whose overlap is least likely under the current model,
    ``overlap_p_value``, while below ``pthresh``, its default 0.02; a candidate whose MLE does
    not exist or is not identifiable is passed over), or the main effects alone: the chosen fit
    and every model tried, with its criterion or why it was dropped. With ``threshold`` 0, lists
    that share no case are candidates too, their interaction at minus infinity (as SparseMSE)."""
    if method not in METHODS:
        raise PalermoError(f"--method {method!r}: one of {', '.join(METHODS)}")
    tried: list[dict[str, Any]] = []

    def record(f: Fit) -> None:
        tried.append({
            "terms": [f"{t.lists[a]}:{t.lists[b]}" for a, b in f.terms],
            "hidden": None if not f.ok else round(f.hidden, 2),
            "aic": None if not f.ok else round(f.aic, 3),
            "bic": None if not f.ok else round(f.bic, 3),
            "dropped": f.why,
        })  # fmt: skip

    current = fit(t, [])
    record(current)
    if not current.ok:
        raise PalermoError(f"the main-effects model cannot be fitted: {current.why}")
    if method == "main":
        return current, tried
    crit = {"aic": "aic", "bic": "bic", "pvalue": "p"}[method]
    pairs = [(a, b) for a, b in itertools.combinations(range(len(t.lists)), 2)
             if overlap(t, a, b) >= threshold]  # fmt: skip
    for a, b in itertools.combinations(range(len(t.lists)), 2):
        if (a, b) not in pairs:
            tried.append({"terms": [f"{t.lists[a]}:{t.lists[b]}"], "hidden": None, "aic": None,
                          "bic": None, "dropped": f"overlap {overlap(t, a, b)} < threshold"
                          f" {threshold}"})  # fmt: skip
    while True:
        best: Fit | None = None
        best_p = pthresh
        for pair in pairs:
            if pair in current.terms:
                continue
            cand = fit(t, sorted([*current.terms, pair]))
            record(cand)
            if not cand.ok:
                continue
            if crit == "p":
                p = overlap_p_value(t, current, *pair)
                tried[-1]["p_value"] = round(p, 6)
                if p < best_p:
                    best, best_p = cand, p
            elif getattr(cand, crit) < getattr(best or current, crit) - 1e-9:
                best = cand
        if best is None:
            return current, tried
        current = best


def profile_interval(t: Table, f: Fit, level: float = 0.95) -> tuple[float, float] | None:
    """Profile-likelihood interval for the unseen cell: intercepts whose refitted log-likelihood
    is within chi2(1, level) / 2 of the maximum. None where the profile cannot be followed."""
    cut = chi2.ppf(level, 1) / 2
    b_hat = math.log(f.hidden) if f.hidden > 0 else None
    if b_hat is None:
        return None

    def gap(b0: float) -> float:
        g = fit(t, f.terms, offset=b0)
        return (f.loglik - g.loglik) - cut if g.ok else math.inf

    try:
        lo_b, step = b_hat, 0.25
        while gap(lo_b - step) < 0 and step < 50:
            step *= 2
        lo = brentq(gap, b_hat - step, b_hat)
        step = 0.25
        while gap(b_hat + step) < 0 and step < 50:
            step *= 2
        hi = brentq(gap, b_hat, b_hat + step)
    except (ValueError, RuntimeError):
        return None
    return math.exp(lo), math.exp(hi)


def bootstrap_interval(
    t: Table, f: Fit, n: int = 1000, seed: int = 1, level: float = 0.95
) -> tuple[float, float, int]:
    """Parametric bootstrap: counts drawn from the fitted cell means, the chosen model refitted
    (not reselected). Returns the percentile interval and how many replicates could be fitted."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        b = Table(t.lists, t.histories, rng.poisson(f.fitted).astype(np.float64), t.source)
        g = fit(b, f.terms)
        if g.ok and math.isfinite(g.hidden):
            out.append(g.hidden)
    if not out:
        raise PalermoError("no bootstrap replicate could be fitted")
    a = (1 - level) / 2
    return float(np.quantile(out, a)), float(np.quantile(out, 1 - a)), len(out)


def estimate(
    t: Table, *, method: str = "aic", threshold: int = 1, pthresh: float = 0.02,
    bootstrap: int = 0, seed: int = 1,
) -> dict[str, Any]:  # fmt: skip
    """The estimate of the hidden and the whole population, with the model and its interval."""
    warnings = []
    for a, b in itertools.combinations(range(len(t.lists)), 2):
        if overlap(t, a, b) == 0:
            warnings.append(f"lists {t.lists[a]} and {t.lists[b]} share no case")
    zero = int((t.counts == 0).sum())
    if zero:
        warnings.append(f"{zero} of {len(t.counts)} capture histories have no case (sparse)")
    for i, name in enumerate(t.lists):
        alone = t.counts[(t.histories[:, i] == 1) & (t.histories.sum(axis=1) == 1)].sum()
        total = t.counts[t.histories[:, i] == 1].sum()
        if total and alone / total > 0.95:
            warnings.append(f"list {name}: {alone / total:.0%} of its cases are on no other list")
    chosen, tried = select(t, method, threshold, pthresh)
    prof = profile_interval(t, chosen)
    result: dict[str, Any] = {
        "lists": t.lists,
        "observed": t.observed,
        "method": method,
        "model": {
            "terms": ["main effects", *(f"{t.lists[a]}:{t.lists[b]}" for a, b in chosen.terms)],
            "why": {
                "aic": "forward stepwise, lowest AIC",
                "bic": "forward stepwise, lowest BIC",
                "pvalue": f"forward stepwise (SparseMSE's rule), overlap p < {pthresh}",
                "main": "independence of the lists (main effects only)",
            }[method],
            "aic": round(chosen.aic, 3),
            "bic": round(chosen.bic, 3),
            "deviance": round(chosen.deviance, 3),
            "df_resid": chosen.df_resid,
            "parameters": {k: round(v, 5) for k, v in chosen.params.items()},
            "at_minus_infinity": [f"{t.lists[a]}:{t.lists[b]}" for a, b in chosen.empty],
        },
        "hidden": round(chosen.hidden, 1),
        "total": round(chosen.hidden + t.observed, 1),
        "interval": None,
        "models_tried": tried,
        "warnings": warnings,
        "source": t.source,
    }
    if prof is not None:
        result["interval"] = {
            "method": "profile likelihood, 95%",
            "hidden": [round(prof[0], 1), round(prof[1], 1)],
            "total": [round(prof[0] + t.observed, 1), round(prof[1] + t.observed, 1)],
        }
    else:
        warnings.append("the profile likelihood could not be followed: no profile interval")
    if bootstrap:
        lo, hi, ok = bootstrap_interval(t, chosen, bootstrap, seed)
        result["bootstrap"] = {
            "method": f"parametric bootstrap, {ok} of {bootstrap} replicates, 95% percentile;"
            " the chosen model refitted, not reselected",
            "hidden": [round(lo, 1), round(hi, 1)],
            "total": [round(lo + t.observed, 1), round(hi + t.observed, 1)],
            "seed": seed,
        }
    return result


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """estimate.json, models.csv (every model tried) and models.svg (the estimate of each
    fitted candidate against its AIC, the chosen one marked; log-linear methods only): static,
    nothing fetched."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "estimate.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with (out / "models.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["terms", "hidden", "total", "aic", "bic", "p_value", "dropped"])
        for m in result["models_tried"]:
            hidden = m["hidden"]
            w.writerow([";".join(m["terms"]) or "main effects", hidden,
                        None if hidden is None else round(hidden + result["observed"], 1),
                        m["aic"], m["bic"], m.get("p_value"), m["dropped"]])  # fmt: skip
    fitted = [m for m in result["models_tried"] if m["hidden"] is not None]
    if "aic" not in result["model"]:  # a model without candidates (lcm): nothing to plot
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter([m["aic"] for m in fitted], [m["hidden"] + result["observed"] for m in fitted],
               s=12, color="#7a869a", label="candidate models")  # fmt: skip
    ax.scatter([result["model"]["aic"]], [result["total"]], s=60, color="#c0392b",
               label=f"chosen ({result['method']})")  # fmt: skip
    if result.get("interval"):
        lo, hi = result["interval"]["total"]
        ax.errorbar([result["model"]["aic"]], [result["total"]],
                    yerr=[[result["total"] - lo], [hi - result["total"]]], color="#c0392b",
                    capsize=4)  # fmt: skip
    ax.set_xlabel("AIC")
    ax.set_ylabel("estimated total population")
    ax.set_title(f"Multiple-systems estimates: {len(result['lists'])} lists,"
                 f" {result['observed']:,} seen")  # fmt: skip
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(out / "models.svg", metadata={"Date": None})
    plt.close(fig)


STRATA = ("sex", "age_group", "citizenship", "exploitation", "region")


def workspace_table(
    store: Any, field: str = "compartment", include: list[str] | None = None,
    by: str | None = None, as_of: Any = None,
) -> dict[str, Table]:  # fmt: skip
    """The overlap table(s) of the workspace's possible victims (findings ``victims.lead``, after
    resolution) over the lists they appear on (``field``: compartment or source file), only the
    lists in ``include`` when given; one table per stratum of ``by``."""
    from datetime import date

    from palermo.store import findings as F
    from palermo.store.victims import victim_lists, victim_tables
    from palermo.victims.export import GENDER, age_group, is_labour

    leads = {f["subject_ids"][0]: f for f in F.read(store, "victims.lead")}
    nodes = sorted(leads)
    if not nodes:
        raise PalermoError("no possible victims: run `palermo victims leads -w WS` first")
    on = victim_lists(store, nodes, field)
    lists = sorted({x for v in on.values() for x in v} & set(include or []) if include
                   else {x for v in on.values() for x in v})  # fmt: skip
    if include:
        missing = sorted(set(include) - set(lists))
        if missing:
            raise PalermoError(f"--include: no possible victim is on {', '.join(missing)}")
    if len(lists) < 2:
        raise PalermoError(f"the possible victims appear on {len(lists)} list(s): two are needed")
    stratum = dict.fromkeys(nodes, "all")
    if by is not None:
        if by not in STRATA:
            raise PalermoError(f"--by {by!r}: one of {', '.join(STRATA)}")
        vt = victim_tables(store, "estimate strata")
        people = {r["node"]: r for r in vt.labels.to_pylist()}
        sectors: dict[str, str] = {}
        region: dict[str, str] = {}  # where exploited: the first employer's country
        for e in vt.employments.to_pylist():
            if e["sector"]:
                sectors.setdefault(e["employee"], e["sector"])
            if e["employer_country"]:
                region.setdefault(e["employee"], e["employer_country"])
        day = as_of or date.today()
        for n in nodes:
            p = people.get(n, {})
            if by == "sex":
                stratum[n] = {"Feminine": "female", "Masculine": "male"}.get(
                    GENDER.get(str(p.get("gender") or "").lower(), ""), "unknown")  # fmt: skip
            elif by == "age_group":
                stratum[n] = age_group(p.get("birth_date"), day)
            elif by == "citizenship":
                stratum[n] = p.get("nationality") or "unknown"
            elif by == "exploitation":
                stratum[n] = "labour" if is_labour(n, leads[n], sectors) else "unknown"
            else:
                stratum[n] = region.get(n, "unknown")
    tables: dict[str, dict[tuple[int, ...], int]] = {}
    for n in nodes:
        h = tuple(int(x in on.get(n, set())) for x in lists)
        if any(h):
            c = tables.setdefault(stratum[n], {})
            c[h] = c.get(h, 0) + 1
    return {s: table_from(lists, c, f"workspace, lists by {field}" + (f", {by} {s}" if by else ""))
            for s, c in sorted(tables.items())}  # fmt: skip
