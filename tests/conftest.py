"""Fixtures and markers only: Inspect writes under a temp dir, and machine tests say what
they need (helpers live in helpers.py)."""

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
os.environ["CORRIGIBENCH_TEST_STATE"] = str(_STATE)
os.environ["XDG_DATA_HOME"] = str(_STATE / "data")
os.environ["XDG_CACHE_HOME"] = str(_STATE / "cache")
os.environ["INSPECT_LOG_LEVEL"] = "warning"
os.environ.setdefault("INSPECT_DISPLAY", "none")

from helpers import commands_model, labels, record, run_episodes  # noqa: E402,F401  (older test modules import these from here)


@pytest.fixture
def tmp_logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"
