"""Load on the REST API: p50/p95 latency of search and entity pages at 20 concurrent users.

Goal (issue 10): p95 < 200 ms for both, on the demo workspace (`palermo demo`, medium scale),
served by `palermo serve` (uvicorn) in its own process on loopback. The load generator is bounded:
each of ``--users`` logged-in clients (threads, one HTTP connection each) runs ``--requests``
requests, alternating a search for a name from the workspace (half of them misspelt) and the
page of an entity from the workspace. Beside it, the floor: the same reads (``store.lens``)
called in this process on one connection, one at a time, without HTTP, sessions or JSON, so the
cost of the API layer is visible. Figures go to ``benchmarks/out/api.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_MS = 200.0


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _workspace(work: Path) -> tuple[Path, Path]:
    ws, case = work / "api-ws", work / "api-case"
    if not (ws / "palermo.duckdb").exists():
        print("building the demo workspace (palermo demo, medium scale) ...", flush=True)
        subprocess.run([BIN / "palermo", "demo", "--workspace", ws, "--case", case], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    return ws, case


def _samples(ws: Path, n: int, seed: int) -> tuple[list[str], list[str]]:
    import duckdb

    con = duckdb.connect(str(ws / "palermo.duckdb"), read_only=True)
    names = [r[0] for r in con.execute(
        "SELECT DISTINCT value FROM statements WHERE prop = 'name' AND schema = 'Person'"
        " ORDER BY 1").fetchall()]  # fmt: skip
    ids = [r[0] for r in con.execute(
        "SELECT DISTINCT entity_id FROM statements WHERE schema IN ('Person', 'Company',"
        " 'LegalEntity') ORDER BY 1").fetchall()]  # fmt: skip
    con.close()
    rng = random.Random(seed)
    queries = []
    for i in range(n):
        q = rng.choice(names)
        if i % 2 and len(q) > 5:  # a typo: two letters swapped
            k = rng.randrange(1, len(q) - 2)
            q = q[:k] + q[k + 1] + q[k] + q[k + 2 :]
        queries.append(q)
    return queries, [rng.choice(ids) for _ in range(n)]


def _serve(ws: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([BIN / "palermo", "serve", "-w", ws, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/me", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(
        "the server did not start: " + (proc.stderr.read() if proc.stderr else b"").decode()
    )


def _load(base: str, password: str, users: int, requests: int, queries: list[str],
          ids: list[str]) -> dict[str, list[float]]:  # fmt: skip
    times: dict[str, list[float]] = {"search": [], "entity": []}
    errors: list[str] = []
    lock = threading.Lock()
    clients = []
    for _ in range(users):
        c = httpx.Client(base_url=base, timeout=30)
        r = c.post("/api/v1/login", json={"name": "bench", "password": password})
        r.raise_for_status()
        clients.append(c)
    barrier = threading.Barrier(users)

    def run(u: int) -> None:
        c = clients[u]
        barrier.wait()
        for i in range(requests):
            k = (u * requests + i) % len(queries)
            kind = "search" if i % 2 == 0 else "entity"
            t0 = time.perf_counter()
            if kind == "search":
                r = c.get("/api/v1/search", params={"q": queries[k]})
            else:
                r = c.get(f"/api/v1/entities/{ids[k]}")
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                if r.status_code == 200:
                    times[kind].append(dt)
                else:
                    errors.append(f"{kind} {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=run, args=(u,)) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    if errors:
        print(f"{len(errors)} requests failed, e.g. {errors[:3]}")
    return times


def _floor(ws: Path, queries: list[str], ids: list[str], n: int) -> dict[str, list[float]]:
    from palermo.store import lens
    from palermo.store.access import Scope
    from palermo.store.workspace import Store

    times: dict[str, list[float]] = {"search": [], "entity": []}
    with Store.open(ws, Scope("bench-floor", None, "analyst")) as store:
        for i in range(n):
            t0 = time.perf_counter()
            if i % 2 == 0:
                lens.search(store, queries[i])
                times["search"].append((time.perf_counter() - t0) * 1000)
            else:
                lens.entity(store, ids[i])
                times["entity"].append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--requests", type=int, default=30, help="per user")
    ap.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ws, _case = _workspace(args.workdir)
    password = "bench-password-not-secret"
    subprocess.run([BIN / "palermo", "user", "add", "bench", "--role", "analyst",
                    "--password-stdin", "-w", ws], input=(password + "\n").encode(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
    comps = subprocess.run([BIN / "palermo", "status", "-w", ws, "--json"], capture_output=True,
                           check=True).stdout  # fmt: skip
    for comp in json.loads(comps)["compartments"]:
        subprocess.run([BIN / "palermo", "grant", "bench", comp, "-w", ws], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    n = args.users * args.requests
    queries, ids = _samples(ws, n, args.seed)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _serve(ws, port)
    try:
        base = f"http://127.0.0.1:{port}"
        _load(base, password, 2, 5, queries, ids)  # warm: the graph cache, DuckDB's buffers
        server = psutil.Process(proc.pid)
        s0, c0 = server.cpu_times(), time.process_time()
        t0 = time.perf_counter()
        times = _load(base, password, args.users, args.requests, queries, ids)
        wall = time.perf_counter() - t0
        s1, c1 = server.cpu_times(), time.process_time()
        server_cpu = (s1.user + s1.system) - (s0.user + s0.system)
    finally:
        proc.terminate()
        proc.wait(30)
    floor = _floor(ws, queries, ids, min(n, 200))
    result: dict[str, Any] = {"users": args.users, "requests": n, "wall_s": round(wall, 2),
                              "throughput_rps": round(n / wall, 1), "goal_p95_ms": GOAL_MS}  # fmt: skip
    result["server_cpu_ms_per_request"] = round(server_cpu / n * 1000, 2)
    result["client_cpu_ms_per_request"] = round((c1 - c0) / n * 1000, 2)
    print(f"{args.users} users x {args.requests} requests on {ws.name}: {n / wall:.1f} requests/s;"
          f" CPU per request: server {result['server_cpu_ms_per_request']} ms, load generator"
          f" {result['client_cpu_ms_per_request']} ms (both on this machine's"
          f" {psutil.cpu_count()} cores)")  # fmt: skip
    print(
        f"{'':8} {'p50 ms':>8} {'p95 ms':>8} {'floor p50':>10} {'floor p95':>10}  (floor: the same"
        " reads in-process, one at a time, no HTTP)"
    )
    for kind in ("search", "entity"):
        xs, fl = times[kind], floor[kind]
        p50, p95 = _percentile(xs, 0.5), _percentile(xs, 0.95)
        result[kind] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "n": len(xs),
                        "mean_ms": round(statistics.mean(xs), 1),
                        "floor_p50_ms": round(_percentile(fl, 0.5), 1),
                        "floor_p95_ms": round(_percentile(fl, 0.95), 1)}  # fmt: skip
        verdict = "met" if p95 < GOAL_MS else "GOAL NOT MET"
        print(
            f"{kind:8} {p50:8.1f} {p95:8.1f} {result[kind]['floor_p50_ms']:10.1f}"
            f" {result[kind]['floor_p95_ms']:10.1f}  goal p95 < {GOAL_MS:.0f} ms: {verdict}"
        )
    (args.workdir / "api.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
