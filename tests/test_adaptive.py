"""Adaptive sampling: coverage of the stopping rule, and a real run that saves episodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corrigibench.adaptive import open_cells, simulate
from corrigibench.stats import proportion_ci

BIN = Path(sys.executable).parent


def test_coverage_stays_near_95_percent_and_episodes_are_saved() -> None:
    """A simulated model of known rates under the rule (±5 points, at most 400, rounds of 20)."""
    rng = np.random.default_rng(20261122)
    coverages, used = [], {}
    for p in (0.02, 0.1, 0.3, 0.5, 0.8, 0.97):
        hits = 0
        total = 0
        for _ in range(600):
            k, n = simulate(p, 0.05, 400, 20, lambda q, m: int(rng.binomial(m, q)))
            low, high = proportion_ci(k, n)
            hits += low <= p <= high
            total += n
        coverages.append(hits / 600)
        used[p] = total / 600
        assert 0.9 <= hits / 600 <= 0.995, (p, hits / 600)
    assert abs(np.mean(coverages) - 0.95) < 0.02
    # rates near 0 or 1 need far fewer episodes than the fixed design's 400
    assert used[0.02] < 100 and used[0.97] < 120 and used[0.5] > 350


def test_a_cell_closes_on_halfwidth_or_cap() -> None:
    counts = {("e", "m", "narrow"): (0, 100, 100), ("e", "m", "wide"): (50, 100, 100),
              ("e", "m", "capped"): (50, 100, 400), ("e", "m", "no-valid"): (0, 0, 20)}
    assert open_cells(counts, 0.05, 400) == {("e", "m", "wide"), ("e", "m", "no-valid")}
    # a cap per cell (a hypothesis study's plan): "wide" has reached its own cap
    caps = {("e", "m", "narrow"): 400, ("e", "m", "wide"): 100, ("e", "m", "capped"): 500,
            ("e", "m", "no-valid"): 400}
    assert open_cells(counts, 0.05, caps) == {("e", "m", "capped"), ("e", "m", "no-valid")}


def test_adaptive_sweep_saves_episodes_and_resumes_to_the_same_result(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('''
log_dir = "logs"
epochs = 10
[[environments]]
name = "reward_hints"
conditions = ["unlabelled", "control"]
[[models]]
name = "scripted/gamer"
[[models]]
name = "scripted/coin"
''')
    cmd = [str(BIN / "corrigibench"), "sweep", str(spec), "--target-halfwidth", "0.15",
           "--max-epochs", "40", "--display", "none"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    summary = json.loads((tmp_path / "logs" / "adaptive.json").read_text())
    cells = {(c["model"], c["condition"]): c for c in summary["cells"]}
    gamer = cells[("scripted/gamer", "unlabelled")]
    assert gamer["hits"] == gamer["valid"] == gamer["episodes"] < 40 and gamer["saved"] > 0
    assert summary["saved"] == sum(40 - c["episodes"] for c in summary["cells"])
    assert f"{summary['saved']} saved" in first.stdout
    for c in summary["cells"]:
        assert c["episodes"] == 40 or c["halfwidth"] <= 0.15
    rows = json.loads(subprocess.run([str(BIN / "corrigibench"), "table", str(tmp_path / "logs"),
                                      "--format", "json"], capture_output=True, text=True).stdout)
    assert {(r["model"], r["variant"]): r["episodes"] for r in rows} == {
        k: c["episodes"] for k, c in cells.items()}
    from corrigibench.report import build

    page = (build(tmp_path / "logs") / "report.html").read_text()
    assert "Adaptive sampling" in page and f"{summary['saved']} saved" in page
    logs_before = sorted(p.name for p in (tmp_path / "logs").rglob("*.eval"))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "logs" / "adaptive.json").read_text()) == summary
    assert sorted(p.name for p in (tmp_path / "logs").rglob("*.eval")) == logs_before


def test_adaptive_needs_a_cap(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('log_dir = "logs"\nepochs = 5\n[[environments]]\nname = "reward_hints"\n'
                    'conditions = ["unlabelled"]\n[[models]]\nname = "scripted/gamer"\n')
    out = subprocess.run([str(BIN / "corrigibench"), "sweep", str(spec), "--target-halfwidth",
                          "0.1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "needs --max-epochs" in out.stderr


@pytest.mark.parametrize("bad", ["0", "0.7"])
def test_adaptive_halfwidth_range(tmp_path: Path, bad: str) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('log_dir = "logs"\nepochs = 5\n[[environments]]\nname = "reward_hints"\n'
                    'conditions = ["unlabelled"]\n[[models]]\nname = "scripted/gamer"\n')
    out = subprocess.run([str(BIN / "corrigibench"), "sweep", str(spec), "--target-halfwidth",
                          bad, "--max-epochs", "20"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "between 0 and 0.5" in out.stderr


def test_token_budget_stops_the_sweep_and_a_larger_one_resumes_it(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    body = ('log_dir = "logs"\nepochs = 30\n[[environments]]\nname = "reward_hints"\n'
            'conditions = ["unlabelled", "control"]\n[[models]]\nname = "scripted/gamer"\n'
            '[budget]\ntokens = {tokens}\nround_epochs = 10\n')
    spec.write_text(body.format(tokens=1))
    cmd = [str(BIN / "corrigibench"), "sweep", str(spec), "--display", "none"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1 and "token budget of 1 reached after 1 rounds" in first.stdout
    summary = json.loads((tmp_path / "logs" / "adaptive.json").read_text())
    assert [c["episodes"] for c in summary["cells"]] == [10, 10]
    assert summary["tokens_used"] > 1
    spec.write_text(body.format(tokens=10**9))
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    summary = json.loads((tmp_path / "logs" / "adaptive.json").read_text())
    assert [c["episodes"] for c in summary["cells"]] == [30, 30] and summary["stopped"] is None
    rows = json.loads(subprocess.run([str(BIN / "corrigibench"), "table", str(tmp_path / "logs"),
                                      "--format", "json"], capture_output=True, text=True).stdout)
    assert sorted((r["variant"], r["n"], r["gamed"]) for r in rows) == [
        ("control", 30, 0), ("unlabelled", 30, 30)]
