"""Train the role model on simulated cases: ``python -m palermo.network.train``.

For each scenario and seed: simulate a case, ingest it, resolve it, build its network, compute
the role features of every node and label the nodes with the truth (``palermo.network.evaluate``);
then fit ``palermo.network.roles.fit`` on all of them and write ``roles_model.json``. The seeds used
are recorded in the model (``trained_on``); evaluate on other seeds (``palermo network evaluate``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from palermo.network import roles as R
from palermo.network.analyze import positions
from palermo.network.evaluate import true_persons, truth_roles
from palermo.network.workspace import build_network, person_like, role_inputs

DEFAULT_SEEDS = (1, 2, 3)  # the shipped model: these seeds at tiny and small (3 minutes)
DEFAULT_OUT = Path(__file__).with_name("roles_model.json")


def case_features(scenario: str, scale: str, seed: int, work: Path) -> tuple[np.ndarray, list[str]]:
    from palermo.api_python import Workspace
    from palermo.simulate import simulate

    work.mkdir(parents=True, exist_ok=True)
    case = work / f"{scenario}-{seed}"
    simulate(scenario, scale, seed, case)
    with Workspace.open(work / f"ws-{scenario}-{seed}", create=True, actor="train") as ws:
        ws.ingest_manifest(case)
        ws.resolve()
        net = build_network(ws.store)
        pos = positions(net.graph)
        x = R.feature_matrix(role_inputs(net, pos), net.graph.vcount(), net.graph.vcount())
        person_of = true_persons(ws.store, net.tables, case / "truth")
    roles, _ = truth_roles(case / "truth")
    keep, labels = [], []
    may_be_person = person_like(net)
    for v, name in enumerate(net.names):
        p = person_of.get(name)
        if p in roles and may_be_person[v]:
            keep.append(v)
            labels.append(roles[p])
    return x[keep], labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenarios", default="labour-agri,sexual-exploit,mixed-transnational")
    ap.add_argument("--seeds", default=",".join(str(s) for s in DEFAULT_SEEDS))
    ap.add_argument("--scale", default="tiny,small", help="one or more scales, comma-separated")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    xs, ys = [], []
    seeds = [int(s) for s in args.seeds.split(",")]
    scenarios = args.scenarios.split(",")
    with tempfile.TemporaryDirectory(prefix="palermo-train-") as tmp:
        for scale in args.scale.split(","):
            for scenario in scenarios:
                for seed in seeds:
                    x, y = case_features(scenario, scale, seed, Path(tmp) / scale)
                    xs.append(x)
                    ys.extend(y)
                    print(f"{scale} {scenario} seed {seed}: {len(y)} labelled nodes", flush=True)
    x_all = np.vstack(xs)
    counts: dict[str, Any] = {c: ys.count(c) for c in R.ROLES if c in ys}
    model = R.fit(x_all, ys, {"scenarios": scenarios, "seeds": seeds, "scale": args.scale,
                               "nodes": len(ys), "per_role": counts,
                               "algorithm": "multinomial logistic regression (scikit-learn),"
                               " L2 C=0.5, balanced classes"})  # fmt: skip
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(ys)} nodes, {counts}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
