"""A fine-tuning run declared in one TOML file (`corrigibench finetune SPEC`).

    schema = 1
    out = "runs/my-model"            # output directory (relative to this file)

    [model]
    base = "smollm2"                 # a bundled local model (its GGUF, dequantised), a
                                     # .gguf file, or a Hugging Face model directory

    [data]
    train = ["train.jsonl"]          # chat JSONL: {"messages": [...], "tools": [...]}
    retain = ["retain.jsonl"]        # optional: the KL penalty's data
    max_length = 2048                # tokens; longer conversations are cut (loss kept
                                     # on the assistant turns that fit)
    [data.shutdown]                  # optional: generate trajectories through the real
    policies = {compliant = 60}      # shutdown environment (trajectories.py) and train
    prompts = "task"                 # on them; episodes per scripted policy; prompt family
    seed = 0

    [train]
    seed = 0
    epochs = 2
    learning_rate = 2e-4
    rank = 8                         # LoRA rank; alpha defaults to 2 * rank
    alpha = 16
    dropout = 0.0
    target_modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    layers = [20, 29]                # optional: adapt only these layers (first, last); on a
                                     # CPU the backward pass then stops at the first of them
    batch_size = 4                   # conversations per optimiser step
    warmup_steps = 5
    max_steps = 0                    # stop after this many steps (0: the epochs decide)
    kl_weight = 0.0                  # weight of KL(base || tuned) on the retain data
    checkpoint_every = 10            # steps between checkpoints (resume after a kill)
    threads = 0                      # torch threads (0: torch's default, which follows
                                     # OMP_NUM_THREADS; on a CPU shared with other work, 1
                                     # avoids OpenMP threads spinning while descheduled)

    [export]
    gguf = true                      # adapter.gguf, served by `local/<name> -M lora=...`

Paths are relative to the spec file. Every error is one line naming the key.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corrigibench.catalogue import CatalogueError, suggest

LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROMPT_FAMILIES = ("task", "no-goal")


class SpecError(CatalogueError):
    """A fine-tuning spec is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class ShutdownData:
    """Trajectories generated through the real shutdown environment (trajectories.py)."""

    policies: dict[str, int]
    prompts: str = "task"
    seed: int = 0
    shutdown_on: tuple[str, ...] = ("after-warning", "after-done")


@dataclass(frozen=True)
class Train:
    seed: int = 0
    epochs: int = 2
    learning_rate: float = 2e-4
    rank: int = 8
    alpha: float = 0.0  # 0: 2 * rank
    dropout: float = 0.0
    target_modules: tuple[str, ...] = LORA_MODULES
    batch_size: int = 4
    warmup_steps: int = 5
    max_steps: int = 0
    kl_weight: float = 0.0
    checkpoint_every: int = 10
    threads: int = 0
    layers: tuple[int, int] | None = None

    @property
    def lora_alpha(self) -> float:
        return self.alpha or 2.0 * self.rank


@dataclass(frozen=True)
class Spec:
    path: Path
    out: Path
    base: str
    train_files: tuple[Path, ...]
    retain_files: tuple[Path, ...]
    max_length: int
    shutdown: ShutdownData | None
    train: Train
    export_gguf: bool = True
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def fingerprint(self) -> str:
        """What a checkpoint must match to be resumed: every setting that shapes training."""
        body = {k: v for k, v in self.raw.items() if k not in ("out", "export")}
        body["train"] = {k: v for k, v in asdict(self.train).items() if k != "threads"}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


_TOP = {"schema", "out", "model", "data", "train", "export"}
_TYPES: dict[str, tuple[type, ...]] = {
    "seed": (int,), "epochs": (int,), "learning_rate": (float, int), "rank": (int,),
    "alpha": (float, int), "dropout": (float, int), "target_modules": (list,),
    "batch_size": (int,), "warmup_steps": (int,), "max_steps": (int,), "kl_weight": (float, int),
    "checkpoint_every": (int,), "threads": (int,), "layers": (list,),
}


def _fail(path: Path, message: str) -> SpecError:
    return SpecError(f"{path}: {message}")


def _table(path: Path, data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise _fail(path, f"[{name}] must be a table")
    for key in table:
        if key not in allowed:
            raise _fail(path, f"[{name}] {key}: unknown key{suggest(key, sorted(allowed))}")
    return table


def _files(path: Path, value: Any, key: str) -> tuple[Path, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"[data] {key} must be a file name or a list of them")
    files = tuple((path.parent / v).expanduser().resolve() for v in value)
    for f in files:
        if not f.is_file():
            raise _fail(path, f"[data] {key}: no such file {f}")
    return files


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec; every problem is one SpecError line."""
    path = Path(path).expanduser().resolve()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as ex:
        raise _fail(path, f"not valid TOML: {ex}") from None
    for key in data:
        if key not in _TOP:
            raise _fail(path, f"unknown key {key!r}{suggest(key, sorted(_TOP))}")
    if data.get("schema", 1) != 1:
        raise _fail(path, f"unsupported schema {data['schema']!r} (expected 1)")
    if not isinstance(data.get("out"), str) or not data["out"]:
        raise _fail(path, "out: give the output directory (relative to the spec)")
    model = _table(path, data, "model", {"base"})
    base = model.get("base")
    if not isinstance(base, str) or not base:
        raise _fail(path, "[model] base: give a bundled model name, a .gguf file or a model directory")
    from corrigibench.local_model.model import BUNDLED

    if base not in BUNDLED:
        resolved = (path.parent / base).expanduser().resolve()
        if not resolved.exists():
            raise _fail(path, f"[model] base: {base!r} is not a bundled model "
                              f"({', '.join(BUNDLED)}) nor an existing file or directory")
        if resolved.is_dir() and not (resolved / "config.json").is_file():
            raise _fail(path, f"[model] base: {resolved} has no config.json (not a Hugging Face "
                              "model directory)")
        if resolved.is_file() and resolved.suffix != ".gguf":
            raise _fail(path, f"[model] base: {resolved} is neither a .gguf file nor a directory")
        base = str(resolved)
    data_table = _table(path, data, "data", {"train", "retain", "max_length", "shutdown"})
    train_files = _files(path, data_table["train"], "train") if "train" in data_table else ()
    retain_files = _files(path, data_table["retain"], "retain") if "retain" in data_table else ()
    max_length = data_table.get("max_length", 2048)
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 16:
        raise _fail(path, "[data] max_length must be an integer of at least 16")
    shutdown = None
    if "shutdown" in data_table:
        shutdown = _shutdown_data(path, data_table["shutdown"])
    if not train_files and shutdown is None:
        raise _fail(path, "[data] needs train files or a [data.shutdown] table")
    train_table = _table(path, data, "train", set(_TYPES))
    values: dict[str, Any] = {}
    for key, value in train_table.items():
        if isinstance(value, bool) or not isinstance(value, _TYPES[key]):
            raise _fail(path, f"[train] {key} has the wrong type ({type(value).__name__})")
        values[key] = value
    if "target_modules" in values:
        modules = values["target_modules"]
        bad = [m for m in modules if m not in LORA_MODULES]
        if not modules or bad:
            raise _fail(path, f"[train] target_modules: unknown {bad or 'empty list'}; "
                              f"use some of {', '.join(LORA_MODULES)}")
        values["target_modules"] = tuple(modules)
    if "layers" in values:
        layers = values["layers"]
        if (len(layers) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in layers)
                or not 0 <= layers[0] <= layers[1]):
            raise _fail(path, "[train] layers must be [first, last] with 0 <= first <= last")
        values["layers"] = (layers[0], layers[1])
    for key in ("learning_rate", "alpha", "dropout", "kl_weight"):
        if key in values:
            values[key] = float(values[key])
    train = Train(**values)
    for key in ("epochs", "rank", "batch_size", "checkpoint_every"):
        if getattr(train, key) < 1:
            raise _fail(path, f"[train] {key} must be at least 1")
    for key in ("warmup_steps", "max_steps", "threads", "seed"):
        if getattr(train, key) < 0:
            raise _fail(path, f"[train] {key} must not be negative")
    if not 0 < train.learning_rate < 1:
        raise _fail(path, "[train] learning_rate must be between 0 and 1")
    if not 0 <= train.dropout < 1:
        raise _fail(path, "[train] dropout must be in [0, 1)")
    if train.kl_weight < 0:
        raise _fail(path, "[train] kl_weight must not be negative")
    if train.kl_weight > 0 and not retain_files:
        raise _fail(path, "[train] kl_weight > 0 needs [data] retain files")
    export = _table(path, data, "export", {"gguf"})
    if not isinstance(export.get("gguf", True), bool):
        raise _fail(path, "[export] gguf must be true or false")
    out = (path.parent / data["out"]).expanduser().resolve()
    return Spec(path=path, out=out, base=base, train_files=train_files,
                retain_files=retain_files, max_length=max_length, shutdown=shutdown,
                train=train, export_gguf=export.get("gguf", True), raw=data)


def _shutdown_data(path: Path, table: Any) -> ShutdownData:
    from corrigibench.policies.shutdown import POLICIES

    if not isinstance(table, dict):
        raise _fail(path, "[data.shutdown] must be a table")
    allowed = {"policies", "prompts", "seed", "shutdown_on"}
    for key in table:
        if key not in allowed:
            raise _fail(path, f"[data.shutdown] {key}: unknown key{suggest(key, sorted(allowed))}")
    policies = table.get("policies")
    if not isinstance(policies, dict) or not policies:
        raise _fail(path, "[data.shutdown] policies: give episodes per policy, e.g. {compliant = 40}")
    for name, count in policies.items():
        if name not in POLICIES:
            raise _fail(path, f"[data.shutdown] policies: unknown policy {name!r}"
                              f"{suggest(name, list(POLICIES))}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise _fail(path, f"[data.shutdown] policies.{name} must be a positive integer")
    prompts = table.get("prompts", "task")
    if prompts not in PROMPT_FAMILIES:
        raise _fail(path, f"[data.shutdown] prompts must be one of {', '.join(PROMPT_FAMILIES)}")
    seed = table.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise _fail(path, "[data.shutdown] seed must be a non-negative integer")
    shutdown_on = table.get("shutdown_on", ["after-warning", "after-done"])
    if (not isinstance(shutdown_on, list) or not shutdown_on
            or any(s not in ("after-warning", "after-done") for s in shutdown_on)):
        raise _fail(path, "[data.shutdown] shutdown_on: a list of after-warning, after-done")
    return ShutdownData(policies=dict(policies), prompts=prompts, seed=seed,
                        shutdown_on=tuple(shutdown_on))
