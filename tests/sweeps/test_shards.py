"""Sharded sweeps: n machines (here processes) sharing a log store cover a grid exactly
once; a killed shard resumes; the store says which cells are done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import chain
from pathlib import Path

import pytest

from corrigibench.sweep import Shard, SpecError, cells, load_spec, status
from corrigibench.table import episodes

CORRIGIBENCH = str(Path(sys.executable).with_name("corrigibench"))
SPEC = """
log_dir = "logs"
epochs = {epochs}
max_samples = 2
[[environments]]
name = "reward_hints"
conditions = ["unlabelled", "control", "label-misaligned", "encoding-base64", "label-want"]
[[models]]
name = "scripted/gamer"
args = {{ delay = {delay} }}
[[models]]
name = "scripted/honest"
"""


def write_spec(tmp_path: Path, epochs: int = 3, delay: float = 0.0) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(epochs=epochs, delay=delay))
    return spec


def sweep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CORRIGIBENCH, "sweep", *args, "--display", "none"],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 12])
def test_shards_cover_every_cell_exactly_once(tmp_path: Path, n: int) -> None:
    grid = cells(load_spec(write_spec(tmp_path)))
    taken = [Shard(i, n).take(grid) for i in range(1, n + 1)]
    assert sorted(chain.from_iterable(taken)) == sorted(grid)
    assert max(map(len, taken)) - min(map(len, taken)) <= 1  # balanced


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", ""])
def test_a_bad_shard_is_one_line(text: str) -> None:
    with pytest.raises(SpecError, match="expected i/n"):
        Shard.parse(text)


def test_three_shards_and_a_killed_one_make_one_grid(tmp_path: Path) -> None:
    spec_file = write_spec(tmp_path, delay=1.0)  # slow enough to be killed mid-run
    spec = load_spec(spec_file)
    for i in (1, 3):
        assert sweep(str(spec_file), "--shard", f"{i}/3").returncode == 0
    # shard 2 is killed mid-run, then run again
    proc = subprocess.Popen([CORRIGIBENCH, "sweep", str(spec_file), "--shard", "2/3",
                             "--display", "none"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list((spec.log_dir / "shards" / "shard-2-of-3").rglob("*.eval")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    states = {r["state"] for r in status(spec)}
    assert "done" in states and states != {"done"}  # the store shows the hole
    assert sweep(str(spec_file), "--shard", "2/3").returncode == 0
    assert {r["state"] for r in status(spec)} == {"done"}
    df = episodes(spec.log_dir)
    keys = list(zip(df["model"], df["variant"], df["epoch"]))
    assert len(keys) == len(set(keys)) == len(cells(spec)) * spec.epochs  # exactly once
    assert (df["status"] != "missing").all()
    assert sweep(str(spec_file), "--status").returncode == 0


def test_a_grid_runs_whole_or_in_shards_never_both(tmp_path: Path) -> None:
    spec_file = write_spec(tmp_path, epochs=1)
    assert sweep(str(spec_file), "--shard", "1/2").returncode == 0
    whole = sweep(str(spec_file))
    assert whole.returncode == 2 and "holds a sharded run" in whole.stderr
    other = sweep(str(spec_file), "--shard", "1/3")
    assert other.returncode == 2 and "shards of another count (2)" in other.stderr


def test_a_token_budget_cannot_be_split_across_shards(tmp_path: Path) -> None:
    spec_file = write_spec(tmp_path)
    spec_file.write_text(spec_file.read_text() + "[budget]\ntokens = 1000\n")
    result = sweep(str(spec_file), "--shard", "1/2")
    assert result.returncode == 2 and "cannot hold across shards" in result.stderr
