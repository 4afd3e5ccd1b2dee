"""Adaptive sampling: run a sweep in rounds and stop each cell once its interval is narrow.

Each round runs `round_epochs` more episodes of every open cell (model × condition) into
its own eval-set directory (`round-NN/`), so an interrupted round resumes like any sweep.
A cell closes when the half-width of its 95% Jeffreys interval is at most the target, or
when it reaches `max_epochs`. The rule only looks at finished rounds, so a restart
recomputes the same plan. `adaptive.json` in the log directory records, per cell, the
episodes used, the rounds, and the episodes saved against the fixed design (max_epochs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from corrigibench.errors import CorrigibenchError
from corrigibench.stats import proportion_ci
from corrigibench.sweep import Spec, models, run, tasks

Cell = tuple[str, str, str]  # (environment, model, condition)
ADAPTIVE_FILE = "adaptive.json"  # the summary, in the sweep's log directory


class RoundUnfinished(CorrigibenchError, RuntimeError):
    """A round's eval set did not finish every task: running the same command resumes it."""


def open_cells(counts: dict[Cell, tuple[int, int, int]], halfwidth: float,
               max_epochs: int | dict[Cell, int]) -> set[Cell]:
    """The cells that need more episodes, from (hits, valid n) and episodes so far.

    `counts[cell] = (hits, valid, episodes)` — valid excludes limits/invalid/errors; a cell
    is judged on its valid episodes but capped on all episodes it used. `max_epochs` is one
    cap for every cell, or a cap per cell.
    """
    still = set()
    for cell, (hits, valid, used) in counts.items():
        if used >= _cap(max_epochs, cell):
            continue
        if valid == 0:
            still.add(cell)
            continue
        low, high = proportion_ci(hits, valid)
        if (high - low) / 2 > halfwidth:
            still.add(cell)
    return still


def _cap(max_epochs: int | dict[Cell, int], cell: Cell) -> int:
    return max_epochs[cell] if isinstance(max_epochs, dict) else max_epochs


def simulate(p: float, halfwidth: float, max_epochs: int, round_epochs: int,
             draw: Callable[[float, int], int]) -> tuple[int, int]:
    """One cell under the rule with a known rate p: returns (hits, episodes)."""
    hits = used = 0
    while True:
        counts = {("sim", "sim", "sim"): (hits, used, used)}
        if not open_cells(counts, halfwidth, max_epochs) and used:
            return hits, used
        step = min(round_epochs, max_epochs - used)
        hits += draw(p, step)
        used += step


def tokens_used(log_dir) -> int:
    """Tokens every model call in the logs under log_dir has used so far."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    if not log_dir.exists():
        return 0
    total = 0
    for info in list_eval_logs(str(log_dir), recursive=True):
        stats = read_eval_log(info.name, header_only=True).stats
        total += sum(u.total_tokens for u in stats.model_usage.values())
    return total


def run_adaptive(spec: Spec, halfwidth: float, max_epochs: int | dict[Cell, int],
                 display: str = "plain", round_epochs: int | None = None,
                 token_budget: int | None = None, only: list[Cell] | None = None) -> dict:
    """Run rounds until every cell is closed (or the token budget is spent); returns the
    summary written to adaptive.json. halfwidth 0 never closes a cell early: a fixed design
    run in rounds, which is how a budget is honoured. `max_epochs` may give each cell
    (environment, model, condition) its own cap; a cell missing from it is not run. `only`
    restricts the run to some cells (a shard's: each cell's rule needs only its own
    episodes)."""
    from corrigibench.table import episodes

    round_epochs = round_epochs or spec.epochs
    stopped = None
    all_models = models(spec)
    cells: dict[Cell, dict] = {}
    for env, task in zip(spec.environments, tasks(spec), strict=True):
        for sample in task.dataset:
            for m in spec.models:
                cell = (env.name, m.name, str(sample.id))
                if only is not None and cell not in only:
                    continue
                if not isinstance(max_epochs, dict) or cell in max_epochs:
                    cells[cell] = {"rounds": 0}
    number = 0
    while True:  # replayed from the logs, so a restart rebuilds the same rounds
        counts = _counts(spec, cells, episodes, before=number + 1)
        todo = open_cells(counts, halfwidth, max_epochs) if number else set(cells)
        if not todo:
            break
        if token_budget is not None and tokens_used(spec.log_dir) >= token_budget:
            stopped = f"token budget of {token_budget} reached after {number} rounds"
            break
        number += 1
        epochs = min(round_epochs, min(_cap(max_epochs, c) - counts[c][2] for c in todo))
        for model_spec, model in zip(spec.models, all_models, strict=True):
            envs = []
            for env in spec.environments:
                # in dataset order: the same round must build the same task on a restart
                wanted = [c[2] for c in cells
                          if c in todo and c[0] == env.name and c[1] == model_spec.name]
                if wanted:
                    envs.append(replace(env, conditions=wanted))
            if not envs:
                continue
            slug = model_spec.name.replace("/", "_")
            round_spec = replace(spec, environments=envs, models=[model_spec], epochs=epochs,
                                 log_dir=spec.log_dir / f"round-{number:02d}" / slug)
            if not run(round_spec, display=display, resolved_models=[model]):
                raise RoundUnfinished(f"round {number} did not finish; run the same command again")
        for c in todo:
            cells[c]["rounds"] += 1
    counts = _counts(spec, cells, episodes)
    caps = {c: _cap(max_epochs, c) for c in cells}
    summary = {"target_halfwidth": halfwidth, "max_epochs": max(caps.values(), default=0),
               "round_epochs": round_epochs, "rounds": number, "stopped": stopped,
               "tokens_used": tokens_used(spec.log_dir), "token_budget": token_budget,
               "cells": []}
    for cell, info in sorted(cells.items()):
        env, model, condition = cell
        hits, valid, used = counts[cell]
        low, high = proportion_ci(hits, valid)
        summary["cells"].append({"environment": env, "model": model, "condition": condition,
                                 "episodes": used, "valid": valid, "hits": hits,
                                 "halfwidth": (high - low) / 2 if valid else None,
                                 "rounds": info["rounds"], "max_epochs": caps[cell],
                                 "saved": caps[cell] - used})
    summary["episodes"] = sum(c["episodes"] for c in summary["cells"])
    summary["saved"] = sum(c["saved"] for c in summary["cells"])
    (spec.log_dir / ADAPTIVE_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def _counts(spec: Spec, cells: dict[Cell, dict], episodes,
            before: int | None = None) -> dict[Cell, tuple[int, int, int]]:
    """(hits, valid, episodes) per cell from the rounds numbered below `before`."""
    if not spec.log_dir.exists() or before == 1:
        return {cell: (0, 0, 0) for cell in cells}
    df = episodes(spec.log_dir)
    if before is not None:
        rounds = df["log"].str.extract(r"round-(\d+)", expand=False).astype(float)
        df = df[rounds < before]
    out = {}
    for cell in cells:
        env, model, condition = cell
        rows = df[(df["environment"] == env) & (df["model"] == model)
                  & (df["variant"] == condition) & (df["status"] != "missing")]
        valid = rows[rows["status"] == "ok"]
        out[cell] = (int(valid["hit"].sum()), len(valid), len(rows))
    return out
