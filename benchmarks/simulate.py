"""Simulator benchmark: events per second and peak memory at 1M and 10M transactions.

Claim under test (issue 4): ``palermo simulate`` scales "from a 1-minute tiny case to 10 million
transactions ... streams to disk in bounded memory".

What it measures, each step in its own child process (peak RSS from ``os.wait4``, wall-clock time
including start-up):

1. **Palermo**: ``palermo simulate --scenario mixed-transnational --scale N --seed 1 --out DIR``
   for each N in ``--scales`` (default 1M and 10M). *Events* = every data row it writes under
   ``observed/`` (bank transactions, calls, border crossings, registry rows, ads, notes, goAML
   transactions); the transaction count is reported separately.
2. **Floor (DuckDB)**: DuckDB writes N random rows with the columns of the ``payments`` mapping to
   a CSV (``COPY (SELECT ... FROM range(N)) TO ...``): the speed of writing that much data with no
   model at all, the upper bound for any generator.
3. **Peer (Faker, row by row)**: the usual way synthetic transactions are made in Python: a loop
   with Faker (names, IBANs, timestamps) and ``csv.writer``, one row at a time. Run on
   ``min(N, --faker-rows)`` rows (default 200k) and reported as rows per second, with the time it
   would take for N rows at that rate.

IBM's AMLSim (the money-only peer named in the issue) cannot be run here: its Java simulator needs
the MASON jar, which its repository does not ship and this machine cannot download.

Run with ``make bench`` or ``.venv/bin/python benchmarks/simulate.py [--scales 1M,10M]``. Results
go to stdout and ``<workdir>/simulate-results.json``; generated files are deleted unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PALERMO = BIN / "palermo"

FAKER_PEER = r"""
import csv, sys
from faker import Faker
n, path = int(sys.argv[1]), sys.argv[2]
fake = Faker(["en_GB", "ro_RO", "de_DE"])
Faker.seed(1)
with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["transaction_id", "timestamp", "from_account", "to_account", "amount", "currency",
                "from_name", "to_name", "payment_type", "reference"])
    for i in range(n):
        w.writerow([f"T{i:09d}", fake.date_time_between("-2y").isoformat(), fake.iban(), fake.iban(),
                    f"{fake.pyfloat(min_value=1, max_value=5000, right_digits=2):.2f}", "EUR",
                    fake.name(), fake.name(), "transfer", fake.sentence(nb_words=3)])
"""

DUCKDB_FLOOR = r"""
import sys, duckdb
n, path = int(sys.argv[1]), sys.argv[2]
duckdb.sql(f'''COPY (SELECT 'T' || lpad(i::VARCHAR, 9, '0') AS transaction_id,
    (TIMESTAMP '2024-01-01' + to_seconds((hash(i) % 47304000)::BIGINT))::VARCHAR AS timestamp,
    'GB' || lpad((hash(i * 3) % 10000000000)::VARCHAR, 20, '0') AS from_account,
    'DE' || lpad((hash(i * 7) % 10000000000)::VARCHAR, 20, '0') AS to_account,
    round((hash(i * 11) % 500000) / 100.0, 2) AS amount, 'EUR' AS currency,
    'Payer ' || (hash(i * 13) % 50000) AS from_name, 'Payee ' || (hash(i * 17) % 50000) AS to_name,
    'transfer' AS payment_type, 'ref ' || (i % 997) AS reference
    FROM range({n}) t(i)) TO '{path}' (HEADER)''')
"""


@dataclass
class Step:
    name: str
    transactions: int
    events: int
    seconds: float
    peak_rss_mb: float
    note: str = ""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def parse_count(text: str) -> int:
    text = text.strip()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def run_child(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{out[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def count_rows(folder: Path) -> int:
    rows = 0
    for path in sorted(folder.iterdir()):
        if path.suffix == ".csv":
            with path.open("rb") as f:
                rows += sum(buf.count(b"\n") for buf in iter(lambda f=f: f.read(1 << 20), b"")) - 1
        elif path.suffix == ".xml":
            rows += path.read_text(encoding="utf-8").count("<transaction>")
    return rows


def measure_palermo(n: int, work: Path) -> Step:
    out = work / f"sim-{n}"
    shutil.rmtree(out, ignore_errors=True)
    seconds, rss, _ = run_child(
        [
            str(PALERMO),
            "simulate",
            "--scenario",
            "mixed-transnational",
            "--scale",
            str(n),
            "--seed",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    events = count_rows(out / "observed")
    shutil.rmtree(out, ignore_errors=True)
    return Step("palermo simulate", summary["transactions"], events, seconds, rss)


def measure_floor(n: int, work: Path) -> Step:
    path = work / "floor.csv"
    seconds, rss, _ = run_child([sys.executable, "-c", DUCKDB_FLOOR, str(n), str(path)])
    path.unlink()
    return Step("floor: DuckDB random rows", n, n, seconds, rss, "no model")


def measure_faker(n: int, cap: int, work: Path) -> Step:
    rows = min(n, cap)
    path = work / "faker.csv"
    seconds, rss, _ = run_child([sys.executable, "-c", FAKER_PEER, str(rows), str(path)])
    path.unlink()
    note = f"{rows:,} rows; {n:,} at this rate: {n / (rows / seconds):,.0f} s"
    return Step("peer: Faker row by row", rows, rows, seconds, rss, note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1M,10M", help="transaction counts, e.g. 1M,10M")
    parser.add_argument("--faker-rows", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="palermo-bench-sim-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    print(
        f"{'step':<28} {'transactions':>13} {'events':>12} {'seconds':>9} {'events/s':>11} {'peak RSS MB':>12}  note"
    )
    for n in [parse_count(s) for s in args.scales.split(",")]:
        for step in (
            measure_palermo(n, work),
            measure_floor(n, work),
            measure_faker(n, args.faker_rows, work),
        ):
            print(
                f"{step.name:<28} {step.transactions:>13,} {step.events:>12,} {step.seconds:>9.1f}"
                f" {step.events_per_s:>11,.0f} {step.peak_rss_mb:>12,.0f}  {step.note}"
            )
            results.append({**asdict(step), "scale": n, "events_per_s": round(step.events_per_s)})
        print()
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "results": results,
    }
    (work / "simulate-results.json").write_text(json.dumps(report, indent=2))
    print(f"results: {work / 'simulate-results.json'}")
    if not args.keep and args.workdir is None:
        for p in work.iterdir():
            if p.name != "simulate-results.json":
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
