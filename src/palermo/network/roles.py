"""Roles from behaviour: what each node of a workspace network does, with a probability and the
features that drove it.

Features (``FEATURES``) are counts and ratios a person can check against the evidence: calls made
and received, call partners, night and foreign calls, money in and out, payers and payees,
pass-through (what went out against what came in), cash in and out, cross-border payments,
trips and vehicles, ads posted, employment (as employee, as employer), assets owned,
directorships, how many countries its records name, a high-risk sector (its own or its
employers': ``HIGH_RISK_SECTORS``), ties per layer (how many people share its address, its phone, its vehicle), its
position (degree, betweenness, PageRank, coreness, Burt's constraint, brokerage) and the roles
intelligence notes give it. Counts enter as log(1 + x).

The model is a multinomial logistic regression (scikit-learn, at training time only) trained on
simulated cases with ground truth (``palermo.network.train``): linear, so each probability is a
sum of feature contributions a prosecutor can read (``explain``), not a black box. Its
coefficients ship in ``roles_model.json`` and are applied here with NumPy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

#: Role classes. The simulator's roles map onto them (``TRUTH_ROLES``).
ROLES = (
    "none",
    "victim",
    "organiser",
    "recruiter",
    "transporter",
    "exploiter",
    "enforcer",
    "money_handler",
    "facilitator",
    "official",
)
TRUTH_ROLES = {
    "background": "none",
    "relative": "none",
    "victim": "victim",
    "boss": "organiser",
    "recruiter": "recruiter",
    "transporter": "transporter",
    "exploiter": "exploiter",
    "enforcer": "enforcer",
    "money_handler": "money_handler",
    "mule": "money_handler",
    "document_forger": "facilitator",
    "corrupt_official": "official",
}
NOTE_ROLES = {  # roles named in intelligence notes (UnknownLink role) -> feature
    "possible victim": "note_victim",
    "victim": "note_victim",
    "boss": "note_organiser",
    "recruiter": "note_recruiter",
    "transporter": "note_transporter",
    "exploiter": "note_exploiter",
    "enforcer": "note_enforcer",
    "money_handler": "note_money_handler",
    "document_forger": "note_facilitator",
    "corrupt_official": "note_official",
}
LOG_FEATURES = (
    "calls_out", "calls_in", "call_partners", "night_calls", "foreign_calls", "call_mean_s",
    "money_in", "money_out", "payers", "payees", "pay_in_n", "pay_out_n", "cash_in", "cash_out",
    "cash_in_n", "cash_out_n", "cross_border_out_n", "trips", "vehicles", "ads", "employed",
    "employees", "assets_owned", "directorships", "note_mentions",
    "deg_calls", "deg_payments", "deg_shared_address", "deg_shared_phone", "deg_vehicle",
    "deg_co_travel", "deg_ownership", "deg_employment", "deg_associates", "deg_ads",
    "degree", "betweenness", "brokerage", "coreness", "countries_n",
)  # fmt: skip
RATIO_FEATURES = (
    "pass_through",  # min(in, out) / max(in, out): money that only passes through
    "cash_share_out",  # cash withdrawals / all money out
    "night_share",  # night calls / calls
    "foreign_share",  # calls to another country code / calls
    "pagerank_rel",  # PageRank x nodes (1 = average)
    "constraint",  # Burt's constraint (low: a broker between groups)
)
#: Sectors where forced labour is most found (ILO/FATF; the simulator's exploitation sectors):
#: a person's own sector or their employers'.
HIGH_RISK_SECTORS = frozenset({
    "agriculture", "construction", "hospitality", "restaurant", "food_processing", "car_wash",
    "nail_bar", "domestic_work", "cleaning", "fishing", "manufacturing",
})  # fmt: skip
FLAG_FEATURES = (
    "is_person", "is_company", "is_phone", "is_account", "high_risk_sector",
    *sorted(set(NOTE_ROLES.values())),
)  # fmt: skip
FEATURES = (*LOG_FEATURES, *RATIO_FEATURES, *FLAG_FEATURES)


def feature_matrix(cols: dict[str, Any], n_rows: int, n_nodes: int) -> np.ndarray:
    """Per-node raw values (column name -> sequence; a missing column or value counts 0) -> the
    model's feature matrix, one row per node, one column per ``FEATURES`` name."""

    def num(name: str) -> np.ndarray:
        v = cols.get(name)
        if v is None:
            return np.zeros(n_rows)
        a = np.array([0.0 if x is None else float(x) for x in v], dtype=np.float64)
        return np.nan_to_num(a)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(np.divide(a, b, out=np.zeros_like(a), where=b > 0))

    x = np.zeros((n_rows, len(FEATURES)), dtype=np.float64)
    kinds = [str(k or "").lower() for k in cols.get("kind", [""] * n_rows)]
    claims = [
        {NOTE_ROLES.get(r) for r in (roles or [])}
        for roles in cols.get("note_roles", [None] * n_rows)
    ]
    money_in, cash_out = num("money_in"), num("cash_out")
    countries = [len(c or []) for c in cols.get("countries", [None] * n_rows)]
    risky = [
        float(bool(HIGH_RISK_SECTORS & set(c or []))) for c in cols.get("sectors", [None] * n_rows)
    ]
    money_out = num("money_out") + cash_out
    calls = num("calls_out") + num("calls_in")
    for j, name in enumerate(FEATURES):
        if name == "countries_n":  # how many countries its records name (nationality, ...)
            x[:, j] = np.log1p(np.array(countries, dtype=np.float64))
        elif name == "high_risk_sector":
            x[:, j] = risky
        elif name in LOG_FEATURES:
            x[:, j] = np.log1p(np.maximum(num(name), 0.0))
        elif name == "pass_through":
            x[:, j] = ratio(np.minimum(money_in, money_out), np.maximum(money_in, money_out))
        elif name == "cash_share_out":
            x[:, j] = ratio(cash_out, money_out)
        elif name == "night_share":
            x[:, j] = ratio(num("night_calls"), calls)
        elif name == "foreign_share":
            x[:, j] = ratio(num("foreign_calls"), calls)
        elif name == "pagerank_rel":
            x[:, j] = num("pagerank") * n_nodes
        elif name == "constraint":
            x[:, j] = np.minimum(num("constraint"), 2.0)
        elif name.startswith("is_"):
            x[:, j] = [float(k == name[3:]) for k in kinds]
        else:  # note_<role>: intelligence names it so
            x[:, j] = [float(name in c) for c in claims]
    return x


@dataclass(frozen=True)
class RoleModel:
    classes: tuple[str, ...]
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # classes x features
    intercept: np.ndarray
    trained_on: dict[str, Any]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def explain(self, x_row: np.ndarray, role: str, top: int = 5) -> list[dict[str, Any]]:
        """The features that pushed this node towards ``role`` most (contribution = coefficient x
        standardised value, relative to the average node), with the node's raw feature value."""
        c = self.classes.index(role)
        z = (x_row - self.mean) / self.scale
        contrib = self.coef[c] * z
        order = np.argsort(-contrib, kind="stable")[:top]
        return [
            {"feature": self.features[j], "value": round(float(x_row[j]), 4),
             "contribution": round(float(contrib[j]), 3)}
            for j in order if contrib[j] > 0
        ]  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes), "features": list(self.features),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "coef": self.coef.tolist(), "intercept": self.intercept.tolist(),
            "trained_on": self.trained_on,
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RoleModel:
        return cls(
            tuple(d["classes"]), tuple(d["features"]), np.array(d["mean"]),
            np.array(d["scale"]), np.array(d["coef"]), np.array(d["intercept"]),
            d.get("trained_on", {}),
        )  # fmt: skip


@cache
def shipped_model() -> RoleModel:
    """The model trained on simulated cases, shipped with the package (no download)."""
    text = resources.files("palermo.network").joinpath("roles_model.json").read_text("utf-8")
    model = RoleModel.from_json(json.loads(text))
    if model.features != FEATURES:
        raise RuntimeError(
            "roles_model.json was trained on other features: retrain (python -m"
            " palermo.network.train)"
        )
    return model


def fit(x: np.ndarray, y: list[str], trained_on: dict[str, Any]) -> RoleModel:
    """Train the role model (scikit-learn's multinomial logistic regression, L2, balanced
    classes: offenders are few beside the background)."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    classes = [c for c in ROLES if c in set(y)]
    clf = LogisticRegression(C=0.5, class_weight="balanced", max_iter=3000)
    clf.fit((x - mean) / scale, y)
    order = [list(clf.classes_).index(c) for c in classes]
    return RoleModel(
        tuple(classes), FEATURES, mean, scale, clf.coef_[order], clf.intercept_[order],
        trained_on,
    )  # fmt: skip
