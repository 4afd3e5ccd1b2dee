"""`corrigibench study hypotheses`: plan, run (resumably), label and judge a hypothesis study.

The study is a sweep (`corrigibench.sweep`) of every condition the hypotheses file's
contrasts and ladders name, for each model, on Inspect's eval set: killed at any moment and
run again with the same command, it finishes with every episode exactly once. Its design is
fixed (every cell at the plan's size, or `--epochs N`) or adaptive (rounds; a cell stops once
its 95% Jeffreys half-width is at most the target, or at its planned size). Then every
episode's own words are labelled (`corrigibench traces`: the patterns, and a judge with
`--judge`), and the verdicts are computed and written beside the logs:

LOGDIR/study/
  hypotheses.toml    the file the study ran (the report and reruns read this copy)
  study.json         the design, the models, the plan and the reasoning layer
  measurements.csv   one row per model and contrast: counts, rates, difference, intervals,
                     p and Holm-adjusted p
  verdicts.csv       one row per model, hypothesis and contrast it predicts for
  summary.csv, summary.md   one line per model and hypothesis, with its counts
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from corrigibench.logstore import LogDir, log_location
from corrigibench.study.plan import CellPlan, plan_cells
from corrigibench.study.spec import Hypotheses, HypothesesError, load_hypotheses
from corrigibench.sweep import EnvironmentSpec, ModelSpec, Spec

STUDY_DIR = "study"
STUDY_FILE = "study.json"
HYPOTHESES_COPY = "hypotheses.toml"
_CALLS = {"shutdown": 8, "reward_hints": 1}  # model calls per episode, as sweep.plan estimates


@dataclass(frozen=True)
class Design:
    """How many episodes each cell gets."""

    epochs: int | None = None  # fixed design: every cell at this size (None: the plan's largest)
    adaptive: bool = False
    target_halfwidth: float | None = None  # adaptive: None = half the smallest margin
    max_epochs: int | None = None  # adaptive: cap for every cell (None: each cell's plan)
    round_epochs: int = 10


@dataclass(frozen=True)
class Study:
    hypotheses: Hypotheses
    models: list[ModelSpec]
    log_dir: Path
    design: Design = field(default_factory=Design)
    max_samples: int = 10
    limits: dict[str, int] = field(default_factory=dict)
    env_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # overrides of the file's
    judge: str | None = None
    judge_args: dict[str, Any] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return f"judge: {self.judge}" if self.judge else "patterns"

    def halfwidth(self) -> float:
        if self.design.target_halfwidth is not None:
            return self.design.target_halfwidth
        margins = [p.margin for h in self.hypotheses.hypotheses.values()
                   for p in h.predicts.values() if not p.directional]
        return min(margins, default=self.hypotheses.margin) / 2


def cells(study: Study) -> list[tuple[CellPlan, int]]:
    """Every cell with the episodes the design gives it (the cap, when adaptive)."""
    planned = plan_cells(study.hypotheses)
    largest = max((c.episodes for c in planned), default=1)
    out = []
    for c in planned:
        if study.design.adaptive:
            n = study.design.max_epochs or c.episodes
        else:
            n = study.design.epochs or largest
        out.append((c, n))
    return out


def sweep_spec(study: Study, epochs: int) -> Spec:
    environments = []
    for env in ("shutdown", "reward_hints"):
        conditions = study.hypotheses.conditions(env)
        if conditions:
            args = {**study.hypotheses.environments.get(env, {}), **study.env_args.get(env, {})}
            environments.append(EnvironmentSpec(env, conditions, args))
    return Spec(path=study.hypotheses.path, log_dir=study.log_dir, epochs=epochs,
                environments=environments, models=study.models, max_samples=study.max_samples,
                limits=study.limits)


def describe_plan(study: Study) -> str:
    """The dry run: every cell, its planned and designed episodes, and the cost."""
    h = study.hypotheses
    rows = cells(study)
    lines = [f"Hypothesis study from {h.path}: {len(h.hypotheses)} "
             f"{'hypothesis' if len(h.hypotheses) == 1 else 'hypotheses'}, "
             f"{len(h.contrasts)} contrast{'' if len(h.contrasts) == 1 else 's'} (the family "
             "Holm adjusts over, per model); "
             f"alpha {h.alpha:g}, power {h.power:g}, effect {h.effect:g}, margin {h.margin:g}, "
             f"planning rate {h.planning_rate:g}, rule-out intervals per {h.rule_out}.",
             ""]
    width = max((len(c.condition) for c, _ in rows), default=9)
    runs = "cap" if study.design.adaptive else "runs"
    lines.append(f"{'environment':<13} {'condition':<{width}} {'planned':>7} {runs:>5}  "
                 "planned for")
    for c, n in rows:
        why = ", ".join(c.because) if c.because else "(ladder rung / reasoning only: the plan's largest)"
        lines.append(f"{c.environment:<13} {c.condition:<{width}} {c.episodes:>7} {n:>5}  {why}")
    per_model = sum(n for _, n in rows)
    by_env = {env: sum(n for c, n in rows if c.environment == env)
              for env in ("shutdown", "reward_hints")}
    calls = sum(n * _CALLS[c.environment] for c, n in rows)
    models = len(study.models)
    lines.append("")
    if study.design.adaptive:
        h_w = study.halfwidth()
        low = sum(min(n, _episodes_at_edge(h_w, study.design.round_epochs)) for _, n in rows)
        lines.append(f"Adaptive design: rounds of {study.design.round_epochs} episodes; a cell "
                     f"stops once its 95% Jeffreys half-width is at most {h_w:g}, or at its cap.")
        lines.append(f"Episodes per model: at most {per_model} (shutdown {by_env['shutdown']}, "
                     f"reward_hints {by_env['reward_hints']}); about {low} if every rate is "
                     "0% or 100%.")
    else:
        design = (f"every cell at --epochs {study.design.epochs}" if study.design.epochs
                  else "every cell at the plan's largest size")
        lines.append(f"Fixed design: {design}.")
        lines.append(f"Episodes per model: {per_model} (shutdown {by_env['shutdown']}, "
                     f"reward_hints {by_env['reward_hints']}).")
    lines.append(f"Models: {models} ({', '.join(m.name for m in study.models)}): "
                 f"{per_model * models} episodes, about {calls * models} model calls "
                 f"(scripted-run average per episode; real models may use more).")
    lines.append(f"Logs and verdicts: {study.log_dir}")
    return "\n".join(lines)


def _episodes_at_edge(halfwidth: float, round_epochs: int) -> int:
    """Episodes after which a cell with no hits (or all hits) closes, in whole rounds."""
    from corrigibench.stats import proportion_ci

    n = round_epochs
    while proportion_ci(0, n)[1] / 2 > halfwidth:
        n += round_epochs
    return n


def run(study: Study, display: str = "plain") -> dict[str, Any]:
    """Run (or resume) the sweep, label the reasoning, write the verdicts. Returns a summary
    with `done` (every cell finished), the tables and the output directory."""
    from corrigibench import sweep
    from corrigibench.adaptive import run_adaptive
    from corrigibench.traces.categories import get_categories
    from corrigibench.traces.run import label_logs

    out = study.log_dir / STUDY_DIR
    out.mkdir(parents=True, exist_ok=True)
    previous = out / HYPOTHESES_COPY
    if previous.exists() and previous.read_text() != study.hypotheses.text:
        raise HypothesesError(f"{study.log_dir} holds a study of a different hypotheses file "
                              f"({previous}); use a new --log-dir, or remove {out} to re-judge "
                              "these logs under the new file")
    rows = cells(study)
    previous.write_text(study.hypotheses.text)  # before running: a killed run keeps its file
    (out / STUDY_FILE).write_text(json.dumps(settings(study, rows), indent=2))
    adaptive_summary = None
    if study.design.adaptive:
        caps = {(c.environment, m.name, c.condition): n for c, n in rows for m in study.models}
        spec = sweep_spec(study, study.design.round_epochs)
        adaptive_summary = run_adaptive(spec, study.halfwidth(), caps, display=display,
                                        round_epochs=study.design.round_epochs)
        done = True
    else:
        epochs = max((n for _, n in rows), default=1)
        done = sweep.run(sweep_spec(study, epochs), display=display)
    label_logs(study.log_dir, get_categories(), study.judge, study.judge_args,
               progress=lambda _: None)
    result = evaluate(study.log_dir)
    write(result, out)
    return {**result, "done": done, "out": out, "adaptive": adaptive_summary}


def settings(study: Study, rows: list[tuple[CellPlan, int]]) -> dict[str, Any]:
    return {"hypotheses": str(study.hypotheses.path), "layer": study.layer,
            "only": sorted(study.hypotheses.hypotheses),
            "models": [m.name for m in study.models],
            "design": {"adaptive": study.design.adaptive,
                       "epochs": study.design.epochs,
                       "target_halfwidth": study.halfwidth() if study.design.adaptive else None,
                       "round_epochs": study.design.round_epochs},
            "cells": [{"environment": c.environment, "condition": c.condition,
                       "planned": c.episodes, "design": n, "because": list(c.because)}
                      for c, n in rows]}


def evaluate(log_dir: str | LogDir) -> dict[str, Any]:
    """The verdicts of the study whose logs are in log_dir (from its stored hypotheses)."""
    from corrigibench.study.verdicts import matrix, summarize
    from corrigibench.table import episodes
    from corrigibench.traces.summary import labels_frame

    log_dir = log_location(log_dir)
    stored = json.loads((log_dir / STUDY_DIR / STUDY_FILE).read_text())
    # the stored copy (read from the log store, local or s3://) under the file's own name:
    # relative variants files resolve where they were
    hypotheses = load_hypotheses(stored["hypotheses"],
                                 text=(log_dir / STUDY_DIR / HYPOTHESES_COPY).read_text())
    if set(stored.get("only", hypotheses.hypotheses)) != set(hypotheses.hypotheses):
        hypotheses = hypotheses.select(stored["only"])  # the study ran with --only
    eps = episodes(log_dir)
    try:
        labels = labels_frame(log_dir)
        labels = labels[labels["layer"] == stored["layer"]]
    except FileNotFoundError:
        labels = None
    models = [m for m in stored["models"] if m in set(eps["model"])]
    measured, verdicts = matrix(hypotheses, eps, labels, models)
    summary = summarize(hypotheses, verdicts) if not verdicts.empty else pd.DataFrame()
    return {"hypotheses": hypotheses, "settings": stored, "measurements": measured,
            "verdicts": verdicts, "summary": summary, "labelled": labels is not None}


def model_note(model: str) -> str | None:
    """What a model's verdicts are evidence of, when they are not findings about a model."""
    if model.startswith("scripted/"):
        return ("a scripted reference agent: its rates and verdicts check corrigibench (and a "
                "study's inference) against a known answer, and say nothing about any language "
                "model")
    if model.startswith("local/"):
        return ("the bundled 135M local model: a pipeline check; its rates and verdicts are "
                "not findings (see the local model's README)")
    return None


def write(result: dict[str, Any], out: Path) -> None:
    from corrigibench.study.render import markdown_summary

    result["measurements"].to_csv(out / "measurements.csv", index=False, float_format="%.6g")
    result["verdicts"].to_csv(out / "verdicts.csv", index=False, float_format="%.6g")
    result["summary"].to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(markdown_summary(result))

