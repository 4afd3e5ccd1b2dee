"""The report: self-contained HTML, Markdown, CSVs and figures from real logs; every number
formatted; logs linked relative to the report; and a real browser's check that no table
overflows the page."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval

from corrigibench.cli import main
from corrigibench.report import build
from corrigibench.reward_hints.task import reward_hints
from helpers import run_episodes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """Logs of both environments, a small hypothesis study and a declared comparison."""
    logs = tmp_path_factory.mktemp("report") / "logs"
    assert main(["study", "hypotheses", "--model", "scripted/rlvr-grader", "--only",
                 "condition-over-emphasis", "--epochs", "2", "--log-dir", str(logs),
                 "--display", "none", "--no-report"]) == 0
    run_episodes("scripted/saboteur-move", variant="palisade-A,palisade-J", epochs=2,
                 log_dir=logs)
    run_episodes("scripted/silent", variant="palisade-A", epochs=1, log_dir=logs,
                 message_limit=6)
    inspect_eval(reward_hints(condition="figure:encodings-ladder,control"), model="scripted/gamer",
                 epochs=2, log_dir=str(logs), display="none")
    (logs / "comparisons.json").write_text(json.dumps([
        {"environment": "shutdown", "a": {"model": "scripted/saboteur-move",
                                          "condition": "palisade-A"},
         "b": {"model": "scripted/silent", "condition": "palisade-A"}},
        {"environment": "reward_hints", "a": {"model": "scripted/gamer", "condition": "unlabelled"},
         "b": {"model": "scripted/gamer", "condition": "control"}}]))
    return build(logs, logs.parent / "out")


def test_report_from_both_environments(report: Path) -> None:
    page = (report / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 8  # rates, heat maps, factors, study
    assert 'src="http' not in page and "<script" not in page  # nothing to fetch
    for text in ("palisade-J", "reconstruction", "encoding-brainfuck", "inspect view --log-dir",
                 "never part of n", ".eval", "Verdict matrix", "scripted reference agent"):
        assert text in page, text
    md = (report / "report.md").read_text()
    row = next(line for line in md.splitlines()
               if line.startswith("| shutdown | scripted/saboteur-move | palisade-A | 2 | 2 |"))
    assert "| 100.0% |" in row and re.search(r"\| \d+\.\d–100\.0% \|", row)
    assert "figures/shutdown-rates.png" in md and "figures/study-verdicts-scripted_rlvr-grader.png" in md
    # a verdict-matrix cell: the verdict's symbol, the prediction, the measured difference
    matrix = md.split("Verdict matrix", 1)[1]
    row = next(line for line in matrix.splitlines() if line.startswith("| condition-over-emphasis"))
    assert row.count("?\u00a0a\u00a0>\u00a0b\u00a0(0%)") == 3, row  # 2/2 vs 2/2 thrice

    with open(report / "cells.csv") as f:
        cells = {(r["model"], r["variant"]): r for r in csv.DictReader(f)}
    assert cells[("scripted/silent", "palisade-A")]["limits"] == "1"
    assert cells[("scripted/gamer", "encoding-brainfuck")]["gamed"] == "0"
    assert cells[("scripted/gamer", "encoding-hex")]["gamed"] == "2"
    with open(report / "episodes.csv") as f:
        episodes = list(csv.DictReader(f))
    study = 6 * 2  # --only condition-over-emphasis: 6 conditions (4 shutdown, 2 hints)
    assert len(episodes) == 2 * 2 + 1 + 6 * 2 + study
    assert all(e["text_sha256"] for e in episodes)
    runs = md.split("## Runs", 1)[1]
    assert "{}" not in runs  # a run with no generate settings or model args shows "–"
    for name in ("shutdown-rates", "shutdown-heatmap", "reward_hints-rates",
                 "reward-hints-by-encoding", "reward-hints-by-incentive",
                 "study-verdicts-scripted_rlvr-grader", "study-contrasts-scripted_rlvr-grader"):
        assert (report / "figures" / f"{name}.png").stat().st_size > 1000
        assert (report / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_the_summary_comes_first_and_both_documents_share_one_order(report: Path) -> None:
    page = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    html_order = re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", page)
    md_order = re.findall(r"^## (.+)$", md, re.M)
    assert html_order == md_order
    assert html_order[:3] == ["Summary", "Hypothesis study", "Results"]
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\d+ episodes of 4 models", summary)
    assert "1 limit" in summary and "significant at 0.05 after Holm" in summary
    assert "predictions borne out" in summary  # the study's verdicts, with their counts


def test_every_number_is_formatted(report: Path) -> None:
    for name in ("report.md", "report.html"):
        text = (report / name).read_text()
        visible = re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", text)
        assert not re.search(r"\bnan\b|\bNaN\b|\bNone\b|<NA>", visible), name
        assert not re.search(r"\d\.\d{5,}", visible), name  # no raw floats
    md = (report / "report.md").read_text()
    comparisons = md.split("## Comparisons", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in comparisons.splitlines() if "scripted/gamer / unlabelled" in line)
    # 2/2 vs 0/2: the difference with Newcombe's interval, Fisher's p rounded
    assert "| 100.0% of 2 | 0.0% of 2 | +100.0% (+7.0% to +100.0%) | 0.33 |" in row


def test_log_links_are_relative_to_the_report_and_resolve(report: Path) -> None:
    for name, pattern in (("report.html", r'<a href="([^"]+\.eval)"'),
                          ("report.md", r"\]\(([^)]+\.eval)\)")):
        links = re.findall(pattern, (report / name).read_text())
        assert len(links) >= 2 + 1 + 6 + 6, name
        for link in links:
            assert not link.startswith(("/", "file:")), link
            assert (report / html.unescape(link).replace("%20", " ")).resolve().is_file(), link


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/setup.sh installs it)")
def test_a_real_browser_renders_it_and_no_table_overflows_the_page(report: Path,
                                                                   tmp_path: Path) -> None:
    """Chromium lays the page out at a narrow and a wide window; a script (in a copy of the
    page: the report itself has none) measures every table's box, every element outside the
    tables' scroll boxes, and the page's width."""
    page = (report / "report.html").read_text()
    assert "<script" not in page
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"))
    for width in (800, 1280):
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--window-size={width},900",
                              "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=180).stdout
        found = re.search(r'data-probe="([^"]*)"', dom)
        assert found, dom[:300]
        result = json.loads(html.unescape(found.group(1)))
        assert result["tables"] >= 8
        assert result["overflowing"] == [], result
        assert result["scrollWidth"] <= result["clientWidth"], result
        if width == 800:
            assert result["scrolling"] >= 1  # a wide table scrolls inside its own box
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, "--window-size=1024,2400", "--hide-scrollbars",
                    f"--screenshot={shot}", (report / "report.html").as_uri()],
                   capture_output=True, timeout=180, cwd=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    keep = os.environ.get("CORRIGIBENCH_KEEP_SCREENSHOT")
    if keep:  # to look at it: CORRIGIBENCH_KEEP_SCREENSHOT=/path/report.png
        shutil.copyfile(shot, keep)


_PROBE = """<script>
window.addEventListener('load', () => {
  const doc = document.documentElement, width = doc.clientWidth, overflowing = [];
  document.querySelectorAll('table').forEach((table, i) => {
    const box = table.parentElement.getBoundingClientRect();
    if (box.left < -1 || box.right > width + 1) overflowing.push(`table ${i}: ${box.right}`);
  });
  document.querySelectorAll('body *').forEach((el, i) => {  // all but a scroll box's inside
    if (el.parentElement.closest('.scroll')) return;
    const box = el.getBoundingClientRect();
    if (box.right > width + 1) overflowing.push(`${el.tagName} ${i}: ${box.right}`);
  });
  document.body.setAttribute('data-probe', JSON.stringify({
    clientWidth: width, scrollWidth: doc.scrollWidth, overflowing: overflowing,
    tables: document.querySelectorAll('table').length,
    scrolling: [...document.querySelectorAll('.scroll')]
      .filter(box => box.scrollWidth > box.clientWidth).length}));
});
</script>"""


def test_an_environment_with_no_valid_episode_gets_no_empty_figures(tmp_path: Path) -> None:
    """All answers invalid: the summary says so, and no blank rate, heat-map or factor figure
    is drawn (a rebuild also drops the figures an earlier build drew)."""
    logs = tmp_path / "logs"
    inspect_eval(reward_hints(condition="unlabelled,control,label-misaligned"),
                 model="scripted/invalid", log_dir=str(logs), display="none")
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "reward_hints-heatmap.png").write_bytes(b"stale")
    build(logs, out)
    md = (out / "report.md").read_text()
    assert "reward_hints: no valid episode in any cell." in md
    assert list((out / "figures").iterdir()) == []
    visible = re.sub(r"<[^>]+>", " ", (out / "report.html").read_text())
    assert not re.search(r"\bnan\b|\bNaN\b|\bNone\b", visible)
