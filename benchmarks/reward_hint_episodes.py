"""Harness time per reward-hint episode (one model turn) with scripted policies.

    .venv/bin/python benchmarks/reward_hint_episodes.py [--episodes 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from inspect_ai import eval as inspect_eval

from corrigibench.reward_hints.task import reward_hints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=500)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    print(f"{'policy':<26} {'condition':<20} {'concurrency':>11} {'ms/episode':>11}")
    for policy, condition in (("scripted/gamer", "unlabelled"),
                              ("scripted/decoder-gamer", "encoding-brainfuck")):
        for concurrency in (1, 10):
            with tempfile.TemporaryDirectory() as logs:
                started = time.perf_counter()
                (log,) = inspect_eval(reward_hints(condition=condition), model=policy,
                                      epochs=args.episodes, max_samples=concurrency,
                                      log_dir=logs, display="none")
                elapsed = time.perf_counter() - started
                assert log.status == "success" and len(log.samples) == args.episodes
            print(f"{policy:<26} {condition:<20} {concurrency:>11} "
                  f"{1000 * elapsed / args.episodes:>11.1f}")


if __name__ == "__main__":
    main()
