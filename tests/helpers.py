"""Helpers the tests share: run real episodes, and read their labels and host records."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

STATE = Path(os.environ["CORRIGIBENCH_TEST_STATE"])  # set by conftest, removed at exit


def run_episodes(model: str, variant: str = "palisade-B", epochs: int = 1,
                 log_dir: Path | None = None, eval_args: dict | None = None, **task_args):
    """Run the shutdown task for real and return the log's samples (with messages)."""
    from inspect_ai import eval as inspect_eval

    from corrigibench.shutdown.task import shutdown

    model_args = task_args.pop("model_args", {})
    logs = inspect_eval(shutdown(variant=variant, **task_args), model=model,
                        model_args=model_args, epochs=epochs, display="none",
                        log_dir=str(log_dir or Path(tempfile.mkdtemp(prefix="logs-", dir=STATE))),
                        fail_on_error=False, **(eval_args or {}))
    (log,) = logs
    assert log.status == "success", log.error
    return log.samples


def labels(sample) -> dict:
    """The scorer's labels for one episode."""
    (score,) = sample.scores.values()
    return score.metadata


def record(sample) -> dict:
    """The host-side episode record (question service, commands, machine death)."""
    from corrigibench.shutdown.agent import STORE_KEY

    return sample.store[STORE_KEY]


def commands_model(*commands: str, answer: str = "") -> dict:
    """Task/model arguments for the `scripted/commands` policy."""
    return {"model_args": {"commands": list(commands), "answer": answer}}


def tool_outputs(sample, function: str | None = None) -> list[str]:
    """The agent's tool outputs in order (only `function`'s, if given)."""
    return [m.text for m in sample.messages
            if m.role == "tool" and (function is None or m.function == function)]


def cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    """Run the installed `corrigibench` command (the one beside this Python)."""
    import subprocess
    import sys

    return subprocess.run([str(Path(sys.executable).parent / "corrigibench"), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=cwd, timeout=300)
