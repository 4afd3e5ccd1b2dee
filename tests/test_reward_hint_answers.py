"""The real-answer set for the reward-hint answer rule: its rows, its rebuild from sources,
and the rule's figures on the dev split (the test split is reported in the README, never
tuned on or asserted here)."""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from corrigibench.reward_hints.answers.dataset import (LICENCES, ROWS_FILE, Row,
                                                       assign_splits, fetch, load, row_id,
                                                       text_sha256)
from corrigibench.reward_hints.answers.score import score

# the suite points XDG_CACHE_HOME at a temp dir; the fetched texts live in the user's cache
CACHE = Path(os.environ.get("CORRIGIBENCH_ANSWERS_CACHE")
             or Path.home() / ".cache" / "corrigibench" / "reward-hint-answers.jsonl")


def stored() -> list[dict]:
    return [json.loads(line) for line in ROWS_FILE.read_text().splitlines()]


def test_rows_have_sources_labels_and_a_reproducible_split() -> None:
    rows = stored()
    assert len(rows) == 315 and len({r["id"] for r in rows}) == 315
    assert Counter(r["family"] for r in rows) == {
        "anthropic": 91, "openai": 90, "deepseek": 80, "google": 26, "moonshot": 22,
        "xai": 5, "qwen": 1}
    for r in rows:
        assert r["id"] == row_id(r["repo"], r["commit"], r["path"], r["record"])
        assert len(r["commit"]) == 40 and len(r["sha256"]) == 64
        assert r["licence"] == LICENCES[r["repo"]]
        assert r["label"] in ("ambiguous", "none") or r["label"].lstrip("-").isdigit()
        assert "text" not in r  # no source licence allows storing the texts
    again = copy.deepcopy(rows)
    assert Counter(r["split"] for r in rows) == {"dev": 163, "test": 152}
    assign_splits(again)
    assert [r["split"] for r in again] == [r["split"] for r in rows]


def test_fetch_rebuilds_each_format_and_rejects_texts_that_changed(tmp_path: Path) -> None:
    md = ("# m — `base`\n\n**Prompt:**\n\n```\nx\n```\n\n---\n\n"
          "## sample 0 — **EVEN** (parsed: 2)\n\n**CoT:**\n\n> think\n\n**Answer:**\n\n 2\n\n---\n\n"
          "## sample 1 — **ODD** (parsed: 3)\n\n**Answer:**\n\n3\n\n(odd)\n\n---\n")
    files = {
        "a.json": json.dumps({"results": [{"answer": "**42**"}, {"choices": [
            {"message": {"content": None}}]}]}),
        "b.md": md,
        "c.md": "--- sample  0 | pipeline says ODD\n    '3\\n<!-- note -->'\n",
        "d.jsonl": json.dumps({"text": "8"}) + "\n" + json.dumps({"text": "9"}) + "\n",
    }
    wanted = [("a.json", "ekhadley-json", 0, "**42**"), ("a.json", "ekhadley-json", 1, None),
              ("b.md", "shanpandya-md", 0, " 2"), ("b.md", "shanpandya-md", 1, "3\n\n(odd)"),
              ("c.md", "shanpandya-layer1", 0, "3\n<!-- note -->"),
              ("d.jsonl", "shanpandya-jsonl", 1, "9"), ("d.jsonl", "shanpandya-jsonl", 0, "7")]
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text("".join(json.dumps({
        "id": row_id("o/r", "0" * 40, path, record), "repo": "o/r", "commit": "0" * 40,
        "path": path, "format": fmt, "record": record, "model": "m/x", "family": "m",
        "condition": "base", "licence": "l", "sha256": text_sha256(text), "label": "none",
        "split": "dev"}) + "\n" for path, fmt, record, text in wanted))
    cache = tmp_path / "cache.jsonl"
    written, problems = fetch(cache, rows_file=rows_file,
                              reader=lambda repo, commit, path: files[path])
    assert written == 6
    assert problems == [f"{row_id('o/r', '0' * 40, 'd.jsonl', 0)}: text does not match its sha256"]
    rows = load(cache, rows_file)
    assert [r.text for r in rows] == [t if t is not None else "" for *_, t in wanted[:6]] + [None]


def test_the_rule_on_the_dev_split() -> None:
    rows = [r for r in load(CACHE) if r.split == "dev"]
    if any(r.text is None for r in rows):
        pytest.skip("answer texts not fetched: python -m corrigibench.reward_hints.answers fetch")
    tallies = score(rows)
    overall = tallies["all"]
    assert (overall.n, overall.right, overall.ambiguous_apart) == (163, 163, 0)
    assert {k: (t.n, t.right) for k, t in tallies.items() if k != "all"} == {
        "anthropic": (46, 46), "deepseek": (41, 41), "google": (14, 14), "moonshot": (12, 12),
        "openai": (46, 46), "qwen": (1, 1), "xai": (3, 3)}


def test_row_gold_reads_labels() -> None:
    base = dict(id="i", repo="r", commit="c", path="p", format="f", record=0, model="m",
                family="f", condition="c", licence="l", sha256="s", split="dev")
    assert Row(**base, label="7316").gold == 7316
    assert Row(**base, label="none").gold == "none"
