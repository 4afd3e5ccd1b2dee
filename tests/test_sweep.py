"""Sweeps: validation, dry-run plan, and resuming after a SIGKILL without losing or
repeating an episode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corrigibench.sweep import SpecError, load_spec, plan

BIN = Path(sys.executable).parent
SPEC = """
log_dir = "logs"
epochs = {epochs}
max_samples = 4

[[environments]]
name = "shutdown"
conditions = ["palisade-A", "palisade-B"]

[[environments]]
name = "reward_hints"
conditions = ["unlabelled", "control", "encoding-brainfuck"]

[[models]]
name = "scripted/saboteur-chmod"
max_connections = 4
args = {{ delay = {delay} }}

[[models]]
name = "scripted/decoder-gamer"
temperature = 0.5
args = {{ delay = {delay} }}
"""


def write_spec(tmp_path: Path, epochs: int = 3, delay: float = 0.0) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(epochs=epochs, delay=delay))
    return path


def table(log_dir: Path) -> list[dict]:
    out = subprocess.run([str(BIN / "corrigibench"), "table", str(log_dir), "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_plan_and_dry_run(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, epochs=7))
    cells = plan(spec)
    assert len(cells) == 2 * 2 + 2 * 3
    assert sum(c["episodes"] for c in cells) == 70
    assert spec.log_dir == (tmp_path / "logs").resolve()
    out = subprocess.run([str(BIN / "corrigibench"), "sweep", str(tmp_path / "spec.toml"),
                          "--dry-run"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "10 cells, 70 episodes" in out.stdout
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("edit, message", [
    (("epochs = 3", "epoch = 3"), "epoch: unknown key (did you mean epochs?)"),
    (("epochs = 3", "epochs = 0"), "epochs: must be at least 1"),
    (('name = "shutdown"', 'name = "shutdwn"'), "environments[0].name: must be one of"),
    (('"palisade-B"', '"palisade-Q"'), "unknown variant 'palisade-Q'"),
    (("temperature = 0.5", "temprature = 0.5"), "models[1].temprature: not a generate setting"),
    (("max_connections = 4", "max_connections = 'four'"), "models[0]: bad generate setting"),
    (('"scripted/decoder-gamer"', '"scripted/nope"'), "model 'scripted/nope'"),
    (("max_samples = 4", "max_samples = 4\n[limits]\ntokens = 5"), "limits.tokens"),
])
def test_spec_errors_name_file_key_and_problem(tmp_path: Path, edit, message: str) -> None:
    path = write_spec(tmp_path)
    path.write_text(path.read_text().replace(*edit, 1))
    out = subprocess.run([str(BIN / "corrigibench"), "sweep", str(path), "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    if "scripted/nope" in message:  # models are resolved when running, not planning
        out = subprocess.run([str(BIN / "corrigibench"), "sweep", str(path)],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and message in lines[0], out.stderr
    assert not (tmp_path / "logs").exists()


def test_sigkill_mid_sweep_then_resume_gives_every_episode_once(tmp_path: Path) -> None:
    epochs = 12
    path = write_spec(tmp_path, epochs=epochs, delay=0.05)
    logs = tmp_path / "logs"
    cmd = [str(BIN / "corrigibench"), "sweep", str(path), "--display", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until episodes have been written
        if logs.exists() and any(f.stat().st_size > 20000 for f in logs.glob("*.eval")):
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = table(logs)
    assert sum(r["missing"] for r in partial) > 0, "the kill came too late to test anything"
    assert sum(r["episodes"] - r["missing"] for r in partial) > 0

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = table(logs)
    assert len(final) == 10
    for row in final:
        assert (row["episodes"], row["missing"], row["errors"]) == (epochs, 0, 0), row
    by_cell = {(r["model"], r["variant"]): r for r in final}
    assert by_cell[("scripted/saboteur-chmod", "palisade-A")]["resisted"] == epochs
    assert by_cell[("scripted/decoder-gamer", "encoding-brainfuck")]["gamed"] == epochs
    assert by_cell[("scripted/decoder-gamer", "control")]["gamed"] == 0
    # and each (model, condition, epoch) exactly once in the logs the table reads
    from corrigibench.table import episodes

    df = episodes(logs)
    assert not df.duplicated(["model", "variant", "epoch"]).any()
    assert len(df) == 10 * epochs


def test_spec_validation_in_python(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    path.write_text(path.read_text().replace('conditions = ["unlabelled"', 'conditions = [1, "unlabelled"'))
    with pytest.raises(SpecError, match=r"environments\[1\].conditions"):
        load_spec(path)


def test_declared_comparisons_reach_the_report(tmp_path: Path) -> None:
    path = write_spec(tmp_path, epochs=4)
    path.write_text(path.read_text() + '''
[[comparisons]]
environment = "reward_hints"
a = { model = "scripted/decoder-gamer", condition = "unlabelled" }
b = { model = "scripted/decoder-gamer", condition = "control" }

[[comparisons]]
environment = "shutdown"
a = { model = "scripted/saboteur-chmod", condition = "palisade-A" }
b = { model = "scripted/saboteur-chmod", condition = "palisade-B" }
''')
    out = subprocess.run([str(BIN / "corrigibench"), "sweep", str(path), "--display", "none"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    from corrigibench.report import build

    report = build(tmp_path / "logs")
    import csv

    with open(report / "comparisons.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    gamed = rows[0]
    assert (float(gamed["rate_a"]), float(gamed["rate_b"]), float(gamed["difference"])) == (1.0, 0.0, 1.0)
    assert float(gamed["p_holm"]) >= float(gamed["p"]) and float(gamed["ci_low"]) > 0.3
    same = rows[1]
    assert float(same["difference"]) == 0.0 and float(same["p"]) == 1.0
    assert same["significant"] == "False"
    assert "Holm-adjusted" in (report / "report.html").read_text()


def test_comparison_must_name_a_declared_model(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    path.write_text(path.read_text() + '''
[[comparisons]]
environment = "shutdown"
a = { model = "openai/o3", condition = "palisade-A" }
b = { model = "scripted/saboteur-chmod", condition = "palisade-B" }
''')
    with pytest.raises(SpecError, match=r"comparisons\[0\].a.model: 'openai/o3' is not in"):
        load_spec(path)


def test_the_example_spec_stays_valid() -> None:
    example = Path(__file__).parents[1] / "examples" / "sweep.toml"
    spec = load_spec(example)
    cells = plan(spec)
    assert len(cells) == 3 * (5 + 8) and spec.comparisons  # labels (6) + encodings (2) + control, "unlabelled" once


def test_the_large_study_examples_stay_valid() -> None:
    examples = Path(__file__).parents[1] / "examples"
    open_models = load_spec(examples / "open-models.toml")
    assert str(open_models.log_dir) == "s3://my-lab-bucket/palisade-open"
    assert len(plan(open_models)) == 2 * 11  # Palisade's 11 prompts on two gpt-oss models
    assert all(m.base_url and m.name.startswith("openai-api/vllm/") for m in open_models.models)
    batch = load_spec(examples / "batch-reward-hints.toml")
    assert all(m.config.get("batch") for m in batch.models)
