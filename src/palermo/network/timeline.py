"""``palermo network timeline``: the network period by period (month, quarter or year): cells
forming, continuing, merging, splitting and dissolving, and who persists.

For each period the ties of that period make one graph (undirected: a-b and b-a are one tie,
duplicates summed, self-loops dropped and counted), split into communities by Leiden (the same
seeded call as ``palermo network analyze``). Communities of consecutive periods are matched by
their members (Greene, Doyle & Cunningham 2010, "Tracking the evolution of communities in
dynamic social networks"): a community of period t feeds one of period t+1 when their Jaccard
overlap (shared members / members of either) is at least JACCARD_MIN. A community fed by none
has *formed*; one fed by two or more is a *merge*; one feeding two or more is a *split*; one
feeding none has *dissolved*; one to one is *continued*. Each community carries a cell id, a
lineage ("T1", "T2", ...): a community continues the lineage of the earlier community with which
it shares the most members (ties: the higher Jaccard, then the larger earlier community, then the
earlier community number); when
several claim the same lineage (a split), the one sharing the most members keeps it and the
others start new lineages. Periods without ties are skipped: matching is between consecutive
periods that have ties. Times are ISO dates or timestamps; an offset is honoured and periods are
cut in UTC. Deterministic: the same input gives the same files, byte for byte.

Two ways in: ``timeline`` reads a CSV (DuckDB; bad rows refused with the file, row and value),
``timeline_edges`` takes an in-memory table (pyarrow.Table or a dict of columns: source, target,
time, optional weight), e.g. a workspace's ties.
"""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import igraph as ig
import numpy as np
import pyarrow as pa

from palermo.errors import PalermoError
from palermo.network.analyze import edge_columns, leiden

PERIODS = ("month", "quarter", "year")
JACCARD_MIN = 0.3
EVENTS = ("formed", "continued", "merged", "split", "dissolved")

PERIOD_COLUMNS = ["period", "nodes", "ties", "communities", "modularity"]
CELL_COLUMNS = ["period", "cell", "community", "size", "members", "continues", "event", "fate"]
EVENT_COLUMNS = ["period", "event", "from_cells", "to_cells", "jaccard"]
PERSISTENCE_COLUMNS = ["node", "periods_active", "first_period", "last_period", "cells"]


@dataclass
class Timeline:
    """The result: rows of periods.csv, cells.csv, events.csv and persistence.csv (as dicts
    keyed by the column names above), and the counts behind the summary."""

    period: str
    periods: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    persistence: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    self_loops: int = 0
    notes: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def timeline(
    path: Path,
    *,
    source: str | None = None,
    target: str | None = None,
    time: str,
    weight: str | None = None,
    period: str = "month",
    out: Path,
    resolution: float = 1.0,
) -> dict[str, Any]:
    """Read an edge list (CSV) with a time column and write the timeline into ``out``. Without
    --source/--target, the columns named source and target are used, else the first two."""
    _check_period(period)
    path = Path(path)
    if not path.is_file():
        raise PalermoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PalermoError(f"{path}: empty file (no header, no edges)")
    con = _connect()
    try:
        con.execute(
            "CREATE TABLE raw AS SELECT *, row_number() OVER () + 1 AS _row"
            " FROM read_csv(?, all_varchar = true, header = true)",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise PalermoError(f"{path}: cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    header = [r[0] for r in con.execute("DESCRIBE raw").fetchall() if r[0] != "_row"]
    source, target = edge_columns(path, header, source, target, time=time, weight=weight)
    w = _q(weight) if weight else "NULL"
    con.execute(
        f"CREATE TABLE edges AS SELECT {_q(source)} AS source, {_q(target)} AS target,"
        f" {w} AS weight, {_q(time)} AS time, _row FROM raw"
    )
    said = {"source": f"--source {source!r}", "target": f"--target {target!r}",
            "time": f"--time {time!r}", "weight": f"--weight {weight!r}"}  # fmt: skip
    tl = _compute(con, str(path), said, weight is not None, period, resolution)
    write_timeline(tl, out)
    return _summary(tl, out)


def timeline_edges(
    edges: pa.Table | Mapping[str, Any],
    *,
    period: str = "month",
    out: Path | None = None,
    resolution: float = 1.0,
    label: str = "edges",
) -> dict[str, Any]:
    """The timeline of an in-memory edge table: columns source, target, time (ISO strings,
    dates or timestamps; naive ones read as UTC) and optionally weight (numbers >= 0; without
    it every row weighs 1). A pyarrow.Table, or anything ``pyarrow.table`` takes (a dict of
    columns, a pandas DataFrame). Bad values are refused naming ``label`` and the row (its
    1-based position in the table). Writes periods.csv, cells.csv, events.csv and
    persistence.csv into ``out`` when given; returns the summary (see ``compute_timeline`` for
    the rows themselves)."""
    tl = compute_timeline(edges, period=period, resolution=resolution, label=label)
    if out is not None:
        write_timeline(tl, out)
    return _summary(tl, out)


def compute_timeline(
    edges: pa.Table | Mapping[str, Any],
    *,
    period: str = "month",
    resolution: float = 1.0,
    label: str = "edges",
) -> Timeline:
    """As ``timeline_edges``, without writing: the rows of the four tables."""
    _check_period(period)
    table = edges if isinstance(edges, pa.Table) else pa.table(edges)
    missing = [c for c in ("source", "target", "time") if c not in table.column_names]
    if missing:
        raise PalermoError(
            f"{label}: no column {', '.join(map(repr, missing))}"
            f" (columns: {', '.join(table.column_names) or 'none'})"
        )
    has_weight = "weight" in table.column_names
    cols = ["source", "target", "time", *(["weight"] if has_weight else [])]
    table = table.select(cols)
    table = table.append_column("_row", pa.array(np.arange(1, table.num_rows + 1)))
    con = _connect()
    con.register("input_edges", table)
    w = "weight" if has_weight else "NULL"
    con.execute(
        f"CREATE TABLE edges AS SELECT source, target, {w} AS weight, time, _row FROM input_edges"
    )
    said = {c: f"column {c!r}" for c in ("source", "target", "time", "weight")}
    return _compute(con, label, said, has_weight, period, resolution)


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise PalermoError(f"--period {period!r}: one of {', '.join(PERIODS)}")


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # periods are cut in UTC
    return con


def _compute(
    con: duckdb.DuckDBPyConnection,
    label: str,
    said: dict[str, str],
    has_weight: bool,
    period: str,
    resolution: float,
) -> Timeline:
    """Validate the table ``edges`` (source, target, weight, time, _row), then build, split and
    match the graphs of each period."""
    s = "trim(CAST(source AS VARCHAR))"
    t = "trim(CAST(target AS VARCHAR))"
    rows = int(con.execute("SELECT count(*) FROM edges").fetchall()[0][0])
    if not rows:
        raise PalermoError(f"{label}: no edges (a header and nothing else)")
    blank = con.execute(
        f"SELECT _row FROM edges WHERE coalesce({s}, '') = '' OR coalesce({t}, '') = ''"
        " ORDER BY _row LIMIT 5"
    ).fetchall()
    if blank:
        shown = ", ".join(str(r[0]) for r in blank)
        raise PalermoError(f"{label}: rows {shown}: empty {said['source']} or {said['target']}")
    w = "1.0"
    if has_weight:
        wv = "TRY_CAST(trim(CAST(weight AS VARCHAR)) AS DOUBLE)"
        bad = con.execute(
            f"SELECT _row, CAST(weight AS VARCHAR) FROM edges WHERE {wv} IS NULL"
            f" OR NOT isfinite({wv}) OR {wv} < 0 ORDER BY _row LIMIT 5"
        ).fetchall()
        if bad:
            shown = "; ".join(f"row {r}: {v!r}" for r, v in bad)
            raise PalermoError(f"{label}: {said['weight']} must be a number >= 0 ({shown})")
        w = wv
    ts = "TRY_CAST(trim(CAST(time AS VARCHAR)) AS TIMESTAMPTZ)"
    bad = con.execute(
        f"SELECT _row, CAST(time AS VARCHAR) FROM edges WHERE {ts} IS NULL OR NOT isfinite({ts})"
        " ORDER BY _row LIMIT 5"
    ).fetchall()
    if bad:
        shown = "; ".join(f"row {r}: {'' if v is None else v!r}" for r, v in bad)
        raise PalermoError(
            f"{label}: {said['time']} must be an ISO date or timestamp, e.g. 2024-03-31 or"
            f" 2024-03-31T14:05:00+02:00 ({shown})"
        )
    fmt = {
        "month": "strftime(p, '%Y-%m')",
        "quarter": "strftime(p, '%Y') || '-Q' || CAST(quarter(p) AS VARCHAR)",
        "year": "strftime(p, '%Y')",
    }[period]
    con.execute(
        f"""CREATE TABLE e AS SELECT least({s}, {t}) AS a, greatest({s}, {t}) AS b, {w} AS w,
        date_trunc('{period}', {ts}) AS p FROM edges"""
    )
    self_loops = int(con.execute("SELECT count(*) FROM e WHERE a = b").fetchall()[0][0])
    agg = con.execute(
        f"""SELECT {fmt} AS label, a, b, sum(w) AS w FROM e WHERE a <> b
        GROUP BY p, a, b ORDER BY p, a, b"""
    ).fetchnumpy()
    tl = Timeline(period=period, rows=rows, self_loops=self_loops)
    if self_loops:
        tl.notes.append(f"{self_loops} self-loop row(s) dropped")
    labels = np.asarray(agg["label"], dtype=object)
    if not len(labels):
        raise PalermoError(f"{label}: no ties between two different nodes")
    starts = [0, *(np.flatnonzero(labels[1:] != labels[:-1]) + 1).tolist(), len(labels)]
    a_all = np.asarray(agg["a"], dtype=object)
    b_all = np.asarray(agg["b"], dtype=object)
    w_all = np.asarray(agg["w"], dtype=np.float64)
    tracker = _Tracker(tl)
    for lo, hi in itertools.pairwise(starts):
        name = str(labels[lo])
        names, inv = np.unique(np.concatenate([a_all[lo:hi], b_all[lo:hi]]), return_inverse=True)
        m = hi - lo
        g = ig.Graph(n=len(names), edges=np.column_stack([inv[:m], inv[m:]]).tolist())
        g.vs["name"] = names.tolist()
        g.es["weight"] = w_all[lo:hi].tolist()
        membership = _canonical(leiden(g, resolution), g.vs["name"])
        groups: dict[int, list[str]] = {}
        for v, c in enumerate(membership):
            groups.setdefault(c, []).append(str(names[v]))
        tl.periods.append({
            "period": name, "nodes": g.vcount(), "ties": g.ecount(), "communities": len(groups),
            "modularity": _r(g.modularity(membership, weights="weight")),
        })  # fmt: skip
        tracker.add(name, [sorted(groups[c]) for c in sorted(groups)])
    tracker.finish()
    return tl


class _Tracker:
    """Matches each period's communities with the previous period's and keeps the lineages."""

    def __init__(self, tl: Timeline) -> None:
        self.tl = tl
        self.next_id = 1
        self.prev: list[dict[str, Any]] = []  # the previous period's cell rows
        self.prev_sets: list[set[str]] = []
        self.active: dict[str, list[str]] = {}  # node -> periods
        self.lineages: dict[str, list[str]] = {}  # node -> cell ids, in order of joining

    def _new_id(self) -> str:
        cell = f"T{self.next_id}"
        self.next_id += 1
        return cell

    def add(self, period: str, communities: list[list[str]]) -> None:
        sets = [set(c) for c in communities]
        where = {n: i for i, c in enumerate(self.prev_sets) for n in c}
        # overlap[(a, b)] = (shared, jaccard) for a of the previous period feeding b of this one
        overlap: dict[tuple[int, int], tuple[int, float]] = {}
        for b, now in enumerate(sets):
            for a, k in Counter(where[n] for n in now if n in where).items():
                j = k / (len(self.prev_sets[a]) + len(now) - k)
                if j >= JACCARD_MIN:
                    overlap[(a, b)] = (k, j)
        preds: dict[int, list[int]] = {}
        succs: dict[int, list[int]] = {}
        rank = {ab: (-k, -j, ab[0], ab[1]) for ab, (k, j) in overlap.items()}
        for a, b in sorted(overlap, key=lambda ab: rank[ab]):
            preds.setdefault(b, []).append(a)  # the one sharing the most first
            succs.setdefault(a, []).append(b)
        # a's lineage goes to the successor sharing the most with it among those whose best
        # predecessor is a; the others start new lineages
        heirs: dict[int, int] = {}
        for b in sorted(preds, key=lambda b: rank[(preds[b][0], b)]):
            heirs.setdefault(preds[b][0], b)
        cells: list[dict[str, Any]] = []
        for b, members in enumerate(communities):
            ps = preds.get(b, [])
            if not ps:
                event, cell = "formed", self._new_id()
            else:
                cell = self.prev[ps[0]]["cell"] if heirs.get(ps[0]) == b else self._new_id()
                event = (
                    "merged" if len(ps) >= 2 else "split" if len(succs[ps[0]]) >= 2 else "continued"
                )
            cells.append({
                "period": period, "cell": cell, "community": b + 1, "size": len(members),
                "members": ";".join(members),
                "continues": ";".join(self.prev[a]["cell"] for a in ps), "event": event,
                "fate": "",
            })  # fmt: skip
        events: list[dict[str, Any]] = []
        for b, row in enumerate(cells):
            if row["event"] in ("formed", "continued", "merged"):  # a split: below, once
                ps = preds.get(b, [])
                events.append({
                    "period": period, "event": row["event"], "from_cells": row["continues"],
                    "to_cells": row["cell"], "jaccard": _jaccards(overlap, [(a, b) for a in ps]),
                })  # fmt: skip
        for a, prev in enumerate(self.prev):
            bs = succs.get(a, [])
            if len(bs) == 1:
                prev["fate"] = "merged" if len(preds[bs[0]]) >= 2 else "continued"
                continue
            prev["fate"] = "split" if bs else "dissolved"
            events.append({
                "period": period, "event": prev["fate"], "from_cells": prev["cell"],
                "to_cells": ";".join(cells[b]["cell"] for b in bs),
                "jaccard": _jaccards(overlap, [(a, b) for b in bs]),
            })  # fmt: skip
        order = {e: i for i, e in enumerate(EVENTS)}
        events.sort(key=lambda e: (order[e["event"]], _cell_key(e["to_cells"] or e["from_cells"])))
        self.tl.events.extend(events)
        self.tl.cells.extend(cells)
        for row in cells:
            for n in row["members"].split(";"):
                self.active.setdefault(n, []).append(period)
                seen = self.lineages.setdefault(n, [])
                if row["cell"] not in seen:
                    seen.append(row["cell"])
        self.prev, self.prev_sets = cells, sets

    def finish(self) -> None:
        rows: list[dict[str, Any]] = [
            {
                "node": n,
                "periods_active": len(ps),
                "first_period": ps[0],
                "last_period": ps[-1],
                "cells": ";".join(self.lineages[n]),
            }
            for n, ps in self.active.items()
        ]
        rows.sort(key=lambda r: (-r["periods_active"], r["node"]))
        self.tl.persistence = rows


def _cell_key(cells: str) -> tuple[int, ...]:
    return tuple(int(c[1:]) for c in cells.split(";") if c)


def _jaccards(
    overlap: dict[tuple[int, int], tuple[int, float]], pairs: list[tuple[int, int]]
) -> str:
    return ";".join(f"{overlap[ab][1]:.4f}" for ab in pairs)


def _canonical(membership: list[int], names: list[str]) -> list[int]:
    """Number communities 0, 1, ... by size (largest first), ties by their smallest node name."""
    groups: dict[int, list[str]] = {}
    for v, c in enumerate(membership):
        groups.setdefault(c, []).append(names[v])
    order = sorted(groups, key=lambda c: (-len(groups[c]), min(groups[c])))
    renumber = {c: i for i, c in enumerate(order)}
    return [renumber[c] for c in membership]


def write_timeline(tl: Timeline, out: Path) -> None:
    """Write periods.csv, cells.csv, events.csv and persistence.csv into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, columns, rows in (
        ("periods.csv", PERIOD_COLUMNS, tl.periods),
        ("cells.csv", CELL_COLUMNS, tl.cells),
        ("events.csv", EVENT_COLUMNS, tl.events),
        ("persistence.csv", PERSISTENCE_COLUMNS, tl.persistence),
    ):
        with (out / name).open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            for row in rows:
                w.writerow([row[c] for c in columns])


def _summary(tl: Timeline, out: Path | None) -> dict[str, Any]:
    n_periods = len(tl.periods)
    everywhere = [r["node"] for r in tl.persistence if r["periods_active"] == n_periods]
    counts = Counter(e["event"] for e in tl.events)
    return {
        "period": tl.period,
        "periods": n_periods,
        "first_period": tl.periods[0]["period"] if tl.periods else None,
        "last_period": tl.periods[-1]["period"] if tl.periods else None,
        "rows": tl.rows,
        "self_loops_dropped": tl.self_loops,
        "nodes": len(tl.persistence),
        "cells": len({c["cell"] for c in tl.cells}),
        "events": {e: counts.get(e, 0) for e in EVENTS},
        "active_in_every_period": len(everywhere),
        "most_persistent": [r["node"] for r in tl.persistence[:10]],
        "notes": tl.notes,
        "out": str(out) if out is not None else None,
    }


def _r(x: float) -> float:
    return round(float(x), 6) if np.isfinite(x) else 0.0
