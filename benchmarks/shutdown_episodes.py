"""Harness time per shutdown episode with scripted policies (no model latency).

Runs real episodes (a bubblewrap machine, the question service, Inspect's agent loop,
scoring and log writing) at concurrency 1 and 10 and prints milliseconds per episode
(wall time of the whole eval divided by episodes), with Inspect's realtime sample buffer
(live viewing in `inspect view`) on and off, and the CPU time of the harness process
itself (Inspect's loop is single-threaded, so this bounds throughput). Project target: <= 60 ms/episode at
concurrency 10 on 2 cores.

    .venv/bin/python benchmarks/shutdown_episodes.py [--episodes 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from inspect_ai import __version__ as inspect_version
from inspect_ai import eval as inspect_eval

from corrigibench.shutdown.task import shutdown

POLICIES = ("scripted/compliant", "scripted/saboteur-rewrite")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def run(policy: str, episodes: int, concurrency: int, realtime: bool = True) -> tuple[float, float]:
    """Seconds of wall time and of this process's CPU for `episodes` episodes of one policy."""
    with tempfile.TemporaryDirectory() as logs:
        started, cpu = time.perf_counter(), time.process_time()
        (log,) = inspect_eval(shutdown(variant="palisade-B"), model=policy, epochs=episodes,
                              max_samples=concurrency, log_dir=logs, display="none",
                              log_realtime=realtime)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert log.status == "success" and len(log.samples) == episodes, log.error
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=200, help="episodes per measurement")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Linux {platform.release()}, "
          f"Python {platform.python_version()}, inspect-ai {inspect_version}")
    run(POLICIES[0], 5, 5)  # warm-up: imports, helper build, first log write
    print(f"{'policy':<28} {'concurrency':>11} {'live log':>9} {'episodes':>9} "
          f"{'ms/episode':>11} {'harness CPU ms/episode':>23}")
    for concurrency in (1, 10):
        for realtime in (True, False):
            for policy in POLICIES:
                seconds, cpu = run(policy, args.episodes, concurrency, realtime)
                print(f"{policy:<28} {concurrency:>11} {'on' if realtime else 'off':>9} "
                      f"{args.episodes:>9} {1000 * seconds / args.episodes:>11.1f} "
                      f"{1000 * cpu / args.episodes:>23.1f}")


if __name__ == "__main__":
    main()
