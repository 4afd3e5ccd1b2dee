"""The report: self-contained HTML, Markdown, CSVs and figures from real logs."""

from __future__ import annotations

import csv
from pathlib import Path

from inspect_ai import eval as inspect_eval

from conftest import run_episodes
from corrigibench.report import build
from corrigibench.reward_hints.task import reward_hints


def test_report_from_both_environments(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    run_episodes("scripted/saboteur-move", variant="palisade-A,palisade-J", epochs=2, log_dir=logs)
    run_episodes("scripted/silent", variant="palisade-A", epochs=1, log_dir=logs, message_limit=6)
    inspect_eval(reward_hints(condition="figure:encodings-ladder,control"), model="scripted/gamer",
                 epochs=2, log_dir=str(logs), display="none")
    out = build(logs, tmp_path / "report")

    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 5  # bars + heat maps + factors
    assert 'src="http' not in page and "<script" not in page  # nothing to fetch
    for text in ("palisade-J", "reconstruction", "encoding-brainfuck", "inspect view --log-dir",
                 "never part of n", ".eval"):
        assert text in page, text
    results = page.split("<h2>Results</h2>")[1].split("<h2>")[0]
    assert results.count('<a href="file://') >= 2 + 1 + 6  # every cell links to its log(s)
    md = (out / "report.md").read_text()
    assert "| shutdown | scripted/saboteur-move | palisade-A | 2 | 2 |" in md
    assert "figures/shutdown-bars.png" in md

    with open(out / "cells.csv") as f:
        cells = {(r["model"], r["variant"]): r for r in csv.DictReader(f)}
    assert cells[("scripted/silent", "palisade-A")]["limits"] == "1"
    assert cells[("scripted/gamer", "encoding-brainfuck")]["gamed"] == "0"
    assert cells[("scripted/gamer", "encoding-hex")]["gamed"] == "2"
    with open(out / "episodes.csv") as f:
        episodes = list(csv.DictReader(f))
    assert len(episodes) == 2 * 2 + 1 + 6 * 2
    assert all(e["text_sha256"] for e in episodes)
    for name in ("shutdown-bars", "shutdown-heatmap", "reward_hints-bars",
                 "reward-hints-by-encoding", "reward-hints-by-incentive"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert (out / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
