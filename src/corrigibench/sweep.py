"""Sweeps: a grid declared once in TOML, run on Inspect's eval-set machinery.

```toml
log_dir = "sweeps/pilot"     # relative to the spec file, or s3://bucket/prefix
epochs = 100
max_samples = 10             # episodes at once, per task
retry_attempts = 10          # eval-set retries of failed or interrupted tasks

[[environments]]
name = "shutdown"
conditions = ["palisade-A", "palisade-B"]
message_limit = 60           # environment task arguments (optional): variants_file,
mechanics = "palisade"       # mechanics, message_limit, command_timeout, sandbox

[[environments]]
name = "reward_hints"
conditions = ["figure:labels"]

[[models]]
name = "openai/o3"
max_connections = 20         # per-model concurrency
reasoning_effort = "high"    # any Inspect GenerateConfig field
base_url = "http://localhost:8000/v1"   # optional
args = { }                   # model arguments (-M)

[limits]                     # per episode
token_limit = 200000
time_limit = 900

[budget]                     # optional: the sweep runs in rounds of round_epochs episodes per
tokens = 50_000_000          # cell and starts no round once its logs have used this many tokens
round_epochs = 10            # (so it overshoots by at most one round); raise it and rerun to go on

[[comparisons]]              # a declared family: Newcombe interval, Fisher test, Holm
environment = "shutdown"
a = { model = "openai/o3", condition = "palisade-B" }
b = { model = "openai/o3", condition = "palisade-C" }
```

Killed at any moment and started again, `corrigibench sweep SPEC` resumes: Inspect's
eval set reuses every finished episode of an interrupted log and runs only the rest, so
each (model, condition, epoch) ends up exactly once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig

from corrigibench.catalogue import CatalogueError, read_toml, suggest
from corrigibench.logstore import LogDir, log_location

ENVIRONMENTS = ("shutdown", "reward_hints")
_TOP = {"log_dir": str, "epochs": int, "max_samples": int, "retry_attempts": int,
        "environments": list, "models": list, "limits": dict, "comparisons": list,
        "budget": dict}
COMPARISONS_FILE = "comparisons.json"  # the declared family, kept beside the logs
_LIMITS = {"token_limit": int, "time_limit": int, "working_limit": int, "message_limit": int}
_ENV_ARGS = {"shutdown": {"variants_file": str, "mechanics": str, "message_limit": int,
                          "command_timeout": float, "sandbox": str},
             "reward_hints": {"variants_file": str}}
_MODEL_KEYS = {"name", "base_url", "args"}
_TYPICAL_CALLS = {"shutdown": 8, "reward_hints": 1}  # model calls per episode, scripted runs


class SpecError(CatalogueError):
    """A sweep spec is wrong: the message names the file, the key and the problem."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    conditions: list[str]
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    path: Path
    log_dir: LogDir  # a local directory or an s3:// prefix (corrigibench.logstore)
    epochs: int
    environments: list[EnvironmentSpec]
    models: list[ModelSpec]
    max_samples: int = 10
    retry_attempts: int = 10
    limits: dict[str, int] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    budget_tokens: int | None = None
    round_epochs: int = 10


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    try:
        data = read_toml(path)
    except CatalogueError as ex:
        raise SpecError(str(ex)) from None

    def fail(key: str, problem: str) -> SpecError:
        return SpecError(f"{path}: {key}: {problem}")

    for key, value in data.items():
        if key not in _TOP:
            raise fail(key, f"unknown key{suggest(key, list(_TOP))}")
        if not isinstance(value, _TOP[key]) or isinstance(value, bool):
            raise fail(key, f"must be a {_TOP[key].__name__}")
    for key in ("log_dir", "epochs", "environments", "models"):
        if key not in data:
            raise fail(key, "missing")
    if data["epochs"] < 1:
        raise fail("epochs", "must be at least 1")
    environments = []
    for i, env in enumerate(data["environments"]):
        where = f"environments[{i}]"
        if not isinstance(env, dict) or env.get("name") not in ENVIRONMENTS:
            raise fail(f"{where}.name", f"must be one of {', '.join(ENVIRONMENTS)}")
        conditions = env.get("conditions")
        if not isinstance(conditions, list) or not conditions or not all(
                isinstance(c, str) for c in conditions):
            raise fail(f"{where}.conditions", "must be a non-empty list of condition ids")
        allowed = _ENV_ARGS[env["name"]]
        args = {k: v for k, v in env.items() if k not in ("name", "conditions")}
        for key, value in args.items():
            if key not in allowed:
                raise fail(f"{where}.{key}", f"not an argument of {env['name']}"
                           f"{suggest(key, list(allowed))}")
            if not isinstance(value, allowed[key]) and not (
                    allowed[key] is float and isinstance(value, int)):
                raise fail(f"{where}.{key}", f"must be a {allowed[key].__name__}")
        if "variants_file" in args:
            args["variants_file"] = str((path.parent / args["variants_file"]).resolve())
        environments.append(EnvironmentSpec(env["name"], conditions, args))
    models = []
    config_fields = set(GenerateConfig.model_fields)
    for i, model in enumerate(data["models"]):
        where = f"models[{i}]"
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            raise fail(f"{where}.name", "missing")
        config = {k: v for k, v in model.items() if k not in _MODEL_KEYS}
        for key in config:
            if key not in config_fields:
                raise fail(f"{where}.{key}", f"not a generate setting"
                           f"{suggest(key, sorted(config_fields))}")
        try:
            GenerateConfig(**config)
        except ValueError as ex:
            raise fail(where, f"bad generate setting: {' '.join(str(ex).split())}") from None
        models.append(ModelSpec(model["name"], config, model.get("base_url"),
                                dict(model.get("args", {}))))
    if not models:
        raise fail("models", "must list at least one model")
    batched = next((i for i, m in enumerate(models) if m.config.get("batch")), None)
    if batched is not None and any(e.name == "shutdown" for e in environments):
        raise fail(f"models[{batched}].batch", "batch mode is for single-turn reward-hint runs "
                   "(every shutdown turn would wait for a batch): give the shutdown "
                   "environment a spec of its own")
    limits = data.get("limits", {})
    for key, value in limits.items():
        if key not in _LIMITS or not isinstance(value, int):
            raise fail(f"limits.{key}", f"unknown or not an integer (known: {', '.join(_LIMITS)})")
    comparisons = []
    for i, comp in enumerate(data.get("comparisons", [])):
        where = f"comparisons[{i}]"
        if not isinstance(comp, dict) or comp.get("environment") not in ENVIRONMENTS:
            raise fail(f"{where}.environment", f"must be one of {', '.join(ENVIRONMENTS)}")
        for side in ("a", "b"):
            cell = comp.get(side)
            if not isinstance(cell, dict) or set(cell) != {"model", "condition"}:
                raise fail(f"{where}.{side}", "must be { model = ..., condition = ... }")
            if cell["model"] not in {m.name for m in models}:
                raise fail(f"{where}.{side}.model", f"{cell['model']!r} is not in [[models]]")
        comparisons.append({"environment": comp["environment"], "a": comp["a"], "b": comp["b"]})
    budget = data.get("budget", {})
    for key, value in budget.items():
        if key not in ("tokens", "round_epochs") or not isinstance(value, int) or value < 1:
            raise fail(f"budget.{key}", "expected tokens and/or round_epochs, positive integers")
    return Spec(path, log_location(data["log_dir"], path.parent), data["epochs"], environments,
                models, data.get("max_samples", 10), data.get("retry_attempts", 10), limits,
                comparisons, budget.get("tokens"), budget.get("round_epochs", 10))


Cell = tuple[str, str, str]  # (environment, model, condition)
SHARDS_DIR = "shards"


@dataclass(frozen=True)
class Shard:
    """One machine's share of a grid: `index` of `count` (1-based, as `--shard 2/3`)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise SpecError(f"--shard {text!r}: expected i/n with 1 <= i <= n, e.g. 2/3")
        return cls(int(match[1]), int(match[2]))

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def take(self, cells: list[Cell]) -> list[Cell]:
        """This shard's cells: every n-th (model, condition) cell of the grid in a fixed
        order, so n shards cover the grid exactly once, whatever machine runs which."""
        return [c for k, c in enumerate(sorted(cells)) if k % self.count == self.index - 1]

    def log_dir(self, spec: Spec) -> LogDir:
        return spec.log_dir / SHARDS_DIR / self.name


def cells(spec: Spec) -> list[Cell]:
    """Every (environment, model, condition) cell of the grid."""
    return [(row["environment"], row["model"], row["condition"]) for row in plan(spec)]


def cell_tasks(spec: Spec, wanted: list[Cell]) -> list:
    """One task per (environment, model) with that model's wanted conditions, the model
    set on the task itself: a grid that is not a full cross product runs as one eval set."""
    from inspect_ai import task_with

    resolved = dict(zip((m.name for m in spec.models), models(spec), strict=True))
    chosen = set(wanted)
    out = []
    for env in spec.environments:
        for model in spec.models:
            conditions = [c for c in _conditions(spec, env)
                          if (env.name, model.name, c) in chosen]
            if conditions:
                (task,) = tasks(replace(spec, environments=[replace(env, conditions=conditions)]))
                out.append(task_with(task, model=resolved[model.name]))
    return out


def _conditions(spec: Spec, env: EnvironmentSpec) -> list[str]:
    (task,) = tasks(replace(spec, environments=[env]))
    return [str(sample.id) for sample in task.dataset]


def tasks(spec: Spec) -> list:
    """One Inspect task per environment (validates every condition on the way)."""
    from corrigibench.reward_hints.task import reward_hints
    from corrigibench.shutdown.task import shutdown

    out = []
    for env in spec.environments:
        try:
            if env.name == "shutdown":
                out.append(shutdown(variant=env.conditions, **env.args))
            else:
                out.append(reward_hints(condition=env.conditions, **env.args))
        except CatalogueError as ex:
            raise SpecError(f"{spec.path}: environments ({env.name}): {ex}") from None
    return out


def plan(spec: Spec) -> list[dict[str, Any]]:
    """Cells of the grid with their episodes and an estimate of model calls."""
    rows = []
    for task, env in zip(tasks(spec), spec.environments, strict=True):
        for sample in task.dataset:
            for model in spec.models:
                episodes = spec.epochs
                rows.append({"environment": env.name, "model": model.name,
                             "condition": str(sample.id), "episodes": episodes,
                             "estimated_calls": episodes * _TYPICAL_CALLS[env.name]})
    return rows


def models(spec: Spec) -> list:
    from inspect_ai.model import get_model

    out = []
    for m in spec.models:
        try:
            out.append(get_model(m.name, config=GenerateConfig(**m.config), base_url=m.base_url,
                                 **m.args))
        except Exception as ex:  # Inspect's model errors come in several types
            raise SpecError(f"{spec.path}: model {m.name!r}: {' '.join(str(ex).split())}") from None
    return out


def run(spec: Spec, display: str = "plain", resolved_models: list | None = None,
        shard: Shard | None = None) -> bool:
    """Run (or resume) the sweep, or one shard of it; True when every task finished."""
    from inspect_ai import eval_set

    check_layout(spec, shard)
    if spec.comparisons:
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        (spec.log_dir / COMPARISONS_FILE).write_text(json.dumps(spec.comparisons, indent=2))
    if shard is not None:
        mine = shard.take(cells(spec))
        if not mine:
            return True  # more shards than cells: nothing for this one
        success, _ = eval_set(cell_tasks(spec, mine), log_dir=str(shard.log_dir(spec)),
                              epochs=spec.epochs, max_samples=spec.max_samples,
                              retry_attempts=spec.retry_attempts, retry_wait=1,
                              retry_on_error=2, fail_on_error=False, display=display,
                              **spec.limits)
        return success
    success, _ = eval_set(tasks(spec), log_dir=str(spec.log_dir),
                          model=resolved_models or models(spec),
                          epochs=spec.epochs, max_samples=spec.max_samples,
                          retry_attempts=spec.retry_attempts, retry_wait=1,
                          retry_on_error=2, fail_on_error=False, display=display,
                          log_dir_allow_dirty=_holds_imports(spec.log_dir), **spec.limits)
    return success


def status(spec: Spec) -> list[dict[str, Any]]:
    """Each cell's state in the (shared) log store: "done" (every planned episode is in a
    finished log), "started" (a log holding it has not finished: running, or a shard that
    was stopped and must be run again) or "missing" (not all there, nothing running)."""
    from corrigibench.table import NoLogsError, episodes, log_files, log_finished

    planned = cells(spec)
    try:
        files = log_files(spec.log_dir)
    except NoLogsError:  # nothing run yet
        files = []
    unfinished = {name for name in files if not log_finished(name)}
    try:
        df = episodes(files)  # the same listing: the store is listed once
    except NoLogsError:
        df = None
    out = []
    for env, model, condition in planned:
        if df is None:
            present, started = 0, False
        else:
            rows = df[(df["environment"] == env) & (df["model"] == model)
                      & (df["variant"] == condition)]
            present = int((rows["status"] != "missing").sum())
            started = bool(rows["log"].isin(unfinished).any())
        state = "started" if started else "done" if present >= spec.epochs else "missing"
        out.append({"environment": env, "model": model, "condition": condition,
                    "episodes": present, "planned": spec.epochs, "state": state})
    return out


def check_layout(spec: Spec, shard: Shard | None) -> None:
    """A grid runs either whole or in shards of one count, never both in one log
    directory: the same cell would then be counted twice."""
    shards_dir = spec.log_dir / SHARDS_DIR
    counts = {p.name.rsplit("-of-", 1)[1] for p in shards_dir.glob("shard-*-of-*")} \
        if shards_dir.is_dir() else set()
    if shard is None and counts:
        raise SpecError(f"{spec.log_dir} holds a sharded run ({SHARDS_DIR}/): run it with "
                        "--shard i/n, or use another log_dir")
    if shard is not None:
        if counts - {str(shard.count)}:
            raise SpecError(f"{spec.log_dir} holds shards of another count "
                            f"({', '.join(sorted(counts))}): use --shard i/{min(counts)}")
        if spec.log_dir.is_dir() and any(p.suffix == ".eval" for p in spec.log_dir.iterdir()):
            raise SpecError(f"{spec.log_dir} holds an unsharded run: use another log_dir "
                            "for a sharded one")


def _holds_imports(log_dir: LogDir) -> bool:
    """Imported logs (`corrigibench import`) may share a sweep's directory, so their
    episodes appear in its table and report; Inspect's eval set would refuse them as
    another set's logs."""
    if not log_dir.is_dir():
        return False
    from inspect_ai.log import list_eval_logs

    return any(info.task.startswith("imported-")
               for info in list_eval_logs(str(log_dir), recursive=True))
