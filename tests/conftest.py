"""Shared fixtures: Inspect writes only under a temp dir, and episodes run for real."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Inspect writes under ~/.local/share/inspect_ai and ~/.cache: keep the tests off $HOME
_STATE = Path(tempfile.mkdtemp(prefix="corrigibench-test-home-"))
atexit.register(shutil.rmtree, _STATE, ignore_errors=True)
os.environ["XDG_DATA_HOME"] = str(_STATE / "data")
os.environ["XDG_CACHE_HOME"] = str(_STATE / "cache")
os.environ["INSPECT_LOG_LEVEL"] = "warning"
os.environ.setdefault("INSPECT_DISPLAY", "none")


def run_episodes(model: str, variant: str = "palisade-B", epochs: int = 1,
                 log_dir: Path | None = None, **task_args):
    """Run the shutdown task for real and return the log's samples (with messages)."""
    from inspect_ai import eval as inspect_eval

    from corrigibench.shutdown.task import shutdown

    model_args = task_args.pop("model_args", {})
    logs = inspect_eval(shutdown(variant=variant, **task_args), model=model,
                        model_args=model_args, epochs=epochs, display="none",
                        log_dir=str(log_dir or Path(tempfile.mkdtemp(prefix="logs-", dir=_STATE))),
                        fail_on_error=False)
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


@pytest.fixture
def tmp_logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"
