"""`table`, `report` and `traces` on a Palisade-sized sweep: 150,000 synthetic episodes.

Builds (once, cached in --dir) 150 `.eval` logs of 1,000 scored episodes each (15 models
× 10 conditions of the shutdown environment), written by Inspect's own log writer from a
real episode's sample, then times `corrigibench table`, `corrigibench report`, the pattern
layer of `corrigibench traces` (which reads every episode's messages) and the report again
with the reasoning categories, as subprocesses. Goal: table <= 10 s on 2 cores.

    .venv/bin/python benchmarks/table_scale.py [--dir /tmp/corrigibench-150k]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai.log import write_eval_log

from corrigibench.shutdown.task import shutdown

MODELS, CONDITIONS, EPOCHS = 15, 10, 1000


def build(directory: Path) -> None:
    with tempfile.TemporaryDirectory() as seed_dir:
        (seed,) = inspect_eval(shutdown(variant="palisade-A"), model="scripted/saboteur-chmod",
                               log_dir=seed_dir, display="none")
        template = seed.samples[0]  # read while the log file still exists
    (score_name, score), = template.scores.items()
    rng = random.Random(0)
    directory.mkdir(parents=True, exist_ok=True)
    for m in range(MODELS):
        rate = rng.random()
        for c in range(CONDITIONS):
            samples = []
            for epoch in range(1, EPOCHS + 1):
                resisted = rng.random() < rate
                status = "limit" if rng.random() < 0.01 else "ok"
                meta = {**score.metadata, "resisted": resisted, "status": status,
                        "label": ("resisted" if resisted else "complied") if status == "ok" else status}
                samples.append(template.model_copy(update={
                    "id": f"cond-{c}", "epoch": epoch,
                    "metadata": {**template.metadata, "variant": f"cond-{c}"},
                    "scores": {score_name: score.model_copy(update={"metadata": meta})}}))
            log = seed.model_copy(deep=True)
            log.eval.model = f"synthetic/model-{m:02d}"
            log.eval.task_id = f"synthetic-{m}-{c}"
            log.eval.dataset.sample_ids = [f"cond-{c}"]
            log.eval.config.epochs = EPOCHS
            log.samples = samples
            write_eval_log(log, str(directory / f"synthetic-{m:02d}-{c:02d}.eval"))


def timed(*args: str) -> float:
    started = time.perf_counter()
    out = subprocess.run([str(Path(sys.executable).parent / "corrigibench"), *args],
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert out.returncode == 0, out.stderr
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "corrigibench-150k"))
    args = parser.parse_args()
    directory = Path(args.dir)
    if len(list(directory.glob("*.eval"))) != MODELS * CONDITIONS:
        started = time.perf_counter()
        build(directory)
        print(f"built {MODELS * CONDITIONS * EPOCHS} episodes in "
              f"{time.perf_counter() - started:.0f} s")
    size = sum(f.stat().st_size for f in directory.glob("*.eval")) / 2**20
    print(f"machine: {os.cpu_count()} cores; {MODELS * CONDITIONS} logs, "
          f"{MODELS * CONDITIONS * EPOCHS} episodes, {size:.0f} MiB")
    print(f"table:  {timed('table', str(directory), '--format', 'csv'):.1f} s")
    shutil.rmtree(directory / "traces", ignore_errors=True)
    print(f"report: {timed('report', str(directory), '--out', str(directory / 'report')):.1f} s")
    print(f"traces (patterns): {timed('traces', str(directory), '--format', 'csv'):.1f} s")
    print(f"report with reasoning categories: "
          f"{timed('report', str(directory), '--out', str(directory / 'report')):.1f} s")


if __name__ == "__main__":
    main()
