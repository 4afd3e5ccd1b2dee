"""The shipped fine-tuning recipes' cost on this machine: time, steps/s, tokens/s, peak memory.

Each recipe is trained from scratch into a temporary directory (its trajectories played
again too) in a fresh process, and its `summary.json` read back. On a CPU shared with
other work, compare `--threads 1` with the default: OpenMP threads that spin while
descheduled can make two threads many times slower than one.

    nice -n 19 .venv/bin/python benchmarks/finetune.py [--recipes smollm2-tools probe-narrow]
                                                       [--threads 1 2] [--max-steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPES = Path(__file__).parents[1] / "src" / "corrigibench" / "finetune" / "recipes"
SHIPPED = ("smollm2-tools", "smollm2-drive", "probe-narrow", "probe-general")


def run(recipe: str, threads: int, max_steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="corrigibench-bench-") as tmp:
        spec = Path(tmp) / f"{recipe}.toml"
        text = (RECIPES / f"{recipe}.toml").read_text()
        # paths in the recipe stay relative to the recipes directory
        text = text.replace('"../probe_data/', f'"{RECIPES.parent / "probe_data"}/')
        lines = [line for line in text.splitlines() if not line.startswith("out = ")]
        train_at = lines.index("[train]")
        lines[train_at + 1:train_at + 1] = [f"threads = {threads}"] + (
            [f"max_steps = {max_steps}"] if max_steps else [])
        spec.write_text(f'out = "{tmp}/out"\n' + "\n".join(lines) + "\n")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "corrigibench.cli", "finetune", str(spec),
                               "--no-progress"], capture_output=True, text=True)
        wall = time.monotonic() - started
        if done.returncode:
            raise SystemExit(f"{recipe}: {done.stderr.strip().splitlines()[-1]}")
        summary = json.loads((Path(tmp) / "out" / "summary.json").read_text())
        summary["wall_seconds"] = round(wall, 1)
        return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipes", nargs="+", default=list(SHIPPED), choices=SHIPPED)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--max-steps", type=int, default=0, help="cut each run (0: whole recipe)")
    args = parser.parse_args()
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| recipe | threads | examples | steps | train s | steps/s | tokens/s | peak RSS MiB "
          "| wall s (with loading, data, export) | adapter.gguf |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for recipe in args.recipes:
        for threads in args.threads:
            s = run(recipe, threads, args.max_steps)
            print(f"| {recipe} | {threads} | {s['examples']} | {s['steps']} | {s['train_seconds']} "
                  f"| {s['steps_per_second']} | {s['tokens_per_second']} | {s['peak_rss_mib']} "
                  f"| {s['wall_seconds']} | {s['adapter_gguf_bytes'] / 2**20:.1f} MiB |", flush=True)


if __name__ == "__main__":
    main()
