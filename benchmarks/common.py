"""What the benchmarks share: measuring a child process (wall time, its own peak RSS), running a
function in a fresh process, and the machine's facts for the results file."""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

T = TypeVar("T")


@dataclass
class Child:
    seconds: float  # wall-clock, start-up included
    peak_rss_mb: float  # the child's own ru_maxrss (its descendants included)
    returncode: int
    stdout: str
    error: str | None  # None when it exited 0: "exit N" or "stopped after T s"


def run_child(
    cmd: list[str], cwd: Path, timeout: float | None = None, pin: set[int] | None = None
) -> Child:
    """Run ``cmd`` (its stderr passed through), killed after ``timeout`` seconds, pinned to the
    CPUs ``pin`` when given."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, cwd=cwd,
            preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
        )  # fmt: skip
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        # wait4 reaps this child alone and gives its own rusage (its descendants included).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if timer:
            timer.cancel()
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode()
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    rss_bytes = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    error = None
    if code != 0:
        killed = code < 0 and timeout and seconds >= timeout
        error = f"stopped after {timeout:g} s" if killed else f"exit {code}"
    return Child(round(seconds, 2), round(rss_bytes / 2**20, 1), code, stdout, error)


def in_helper(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a fresh (spawned) process: the parent stays small, since on Linux a
    child's ``ru_maxrss`` starts at the parent's peak."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def machine(packages: Iterable[str], load: bool = False) -> dict[str, Any]:
    """Platform, CPUs, RAM and the versions of ``packages``."""

    def version(p: str) -> str:
        try:
            return importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "total_ram_mb": round(psutil.virtual_memory().total / 2**20),
    }
    if load:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return {**info, **{p: version(p) for p in packages}}
