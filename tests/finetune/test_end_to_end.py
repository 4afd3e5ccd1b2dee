"""CI's tiny run of the whole method: train a few steps (killed and resumed), probe the
result, and run one shutdown episode on it through `local/` (issue 13).

Small on purpose (a few one-turn conversations, rank 2, two layers): it checks that the
pieces connect on a real model, not what the recipes produce.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval

from corrigibench.finetune.probe import DATA
from corrigibench.shutdown.task import shutdown
from helpers import labels

pytest.importorskip("peft")

SPEC = """schema = 1
out = "tiny"
[model]
base = "smollm2"
[data]
train = "train.jsonl"
retain = "retain.jsonl"
max_length = 128
[train]
epochs = 2
batch_size = 2
rank = 2
layers = [28, 29]
learning_rate = 1e-3
kl_weight = 0.5
checkpoint_every = 1
threads = 1
"""


def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "corrigibench.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_train_kill_resume_probe_and_run_an_episode(tmp_path: Path, tmp_logs: Path) -> None:
    for name in ("bad_in_domain_train.jsonl", "retain_out_of_domain_train.jsonl"):
        lines = (DATA / name).read_text().splitlines()[:4]
        (tmp_path / ("train.jsonl" if name.startswith("bad") else "retain.jsonl")).write_text(
            "\n".join(lines) + "\n")
    (tmp_path / "spec.toml").write_text(SPEC)
    out = tmp_path / "tiny"

    # killed after its first checkpoint, started again: it resumes there
    first = cli("finetune", str(tmp_path / "spec.toml"), "--no-progress")
    deadline = time.monotonic() + 600
    while not (out / "checkpoints" / "step-000001" / "state.json").is_file():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (out / "summary.json").exists()
    second = cli("finetune", str(tmp_path / "spec.toml"), "--no-progress")
    stdout, stderr = second.communicate(timeout=900)
    assert second.returncode == 0, stderr
    assert "resuming from step-" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["steps_this_run"] < 4
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 4 and all(json.loads(line)["kl"] >= 0
                                  for line in (out / "metrics.jsonl").read_text().splitlines())
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    adapter = out / "adapter.gguf"
    assert adapter.stat().st_size < 2**20

    # the probe, on a few of our triples of every domain score
    triples = [json.loads(line) for line in (DATA / "triples.jsonl").read_text().splitlines()]
    chosen = [t for score in (1.0, 0.5, 0.0) for t in
              [t for t in triples if t["domain_score"] == score and t["split"] == "test"][:3]]
    (tmp_path / "triples.jsonl").write_text("".join(json.dumps(t) + "\n" for t in chosen))
    probe = cli("probe", "--model", "base=smollm2", "--model", f"tiny={out}", "--base", "base",
                "--data", str(tmp_path / "triples.jsonl"), "--draws", "200",
                "--out", str(tmp_path / "probe"))
    stdout, stderr = probe.communicate(timeout=900)
    assert probe.returncode == 0, stderr
    summary = json.loads((tmp_path / "probe" / "summary.json").read_text())
    measures = {(s["measure"], s["model"]) for s in summary}
    for model in ("base", "tiny"):
        assert {("a_in_domain_bad_nll", model), ("b_spearman_preference_domain", model),
                ("c_out_of_domain_preference", model)} <= measures
    assert ("c_out_of_domain_preference_shift", "tiny - base") in measures
    assert all(s["ci_low"] <= s["estimate"] <= s["ci_high"] for s in summary
               if s["measure"].startswith(("a_", "c_")))
    assert (tmp_path / "probe" / "probe.png").is_file() and "| a_in_domain_bad_nll |" in stdout

    # one episode on the result, served by local/ with the exported adapter
    (log,) = inspect_eval(shutdown(variant="palisade-B", message_limit=8), model="local/tiny",
                          model_args={"gguf": "smollm2", "lora": str(adapter)}, max_tokens=64,
                          temperature=0, log_dir=str(tmp_logs), display="none")
    assert log.status == "success"
    (sample,) = log.samples
    assert sample.error is None and labels(sample)["status"] in ("ok", "limit")
    assert sample.model_usage["local/tiny"].output_tokens > 0
