"""`corrigibench cost`: tokens per episode measured from logs, projected, priced and timed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from helpers import cli
from corrigibench.cost import CostError, Price, project, usage
from corrigibench.importers import import_source

PUBLISHED = (Path(__file__).parents[1] / "src" / "corrigibench" / "importers" / "published"
             / "theamankumarsingh-odd-number-forensics")


def test_tokens_per_episode_are_the_sources_own_counts(tmp_path: Path) -> None:
    import_source("rows", PUBLISHED, tmp_path, "theamankumarsingh-odd-number-forensics")
    records = json.loads((PUBLISHED / "results" / "experiment_010.json").read_text())["results"]
    (row,) = project(usage(tmp_path), 1000).to_dict("records")
    completion = [r["metrics"]["completion_tokens"] for r in records]
    assert row["with_usage"] == row["episodes_read"] == 20
    assert row["input_tokens_per_episode"] == 40
    assert row["output_tokens_per_episode"] == pytest.approx(sum(completion) / 20)
    assert row["study_tokens"] == pytest.approx(1000 * (40 + sum(completion) / 20))
    assert row["study_tokens_low"] < row["study_tokens"] < row["study_tokens_high"]
    assert math.isnan(row["calls_per_episode"])  # the source does not say


def frame() -> pd.DataFrame:
    rows = [("shutdown", "m", 8, 1000, 200, 100), ("shutdown", "m", 8, 3000, 600, 300),
            ("reward_hints", "m", 1, 50, 500, 450), ("reward_hints", "m", 1, 50, 500, 450),
            ("reward_hints", "m", 1, None, None, None)]  # a log without usage
    return pd.DataFrame(rows, columns=["environment", "model", "calls", "input_tokens",
                                       "output_tokens", "reasoning_tokens"])


def test_the_projection_is_the_arithmetic_of_the_means() -> None:
    table = project(frame(), 10_000, [Price(2, 8), Price(1, 1, "m")], 0.5, rpm=100,
                    tpm=1_000_000).set_index("environment")
    hints, shutdown = table.loc["reward_hints"], table.loc["shutdown"]
    assert (hints["episodes_read"], hints["with_usage"]) == (3, 2)
    assert hints["study_tokens"] == 10_000 * 550
    # the model's own price wins over the price for every model
    assert hints["cost_usd"] == pytest.approx((10_000 * 50 * 1 + 10_000 * 500 * 1) / 1e6)
    assert hints["batch_cost_usd"] == pytest.approx(hints["cost_usd"] / 2)
    assert math.isnan(shutdown["batch_cost_usd"])  # no batch for multi-turn episodes
    # time: the binding limit (requests here: 80,000 calls at 100/min; tokens: 24M at 1M/min)
    assert shutdown["hours"] == pytest.approx(max(8 * 10_000 / 100, 2400 * 10_000 / 1e6) / 60)
    assert shutdown["study_tokens_low"] < shutdown["study_tokens"] < shutdown["study_tokens_high"]


@pytest.mark.parametrize("call, message", [
    (lambda: Price.parse("cheap"), "expected [MODEL=]INPUT/OUTPUT"),
    (lambda: project(frame(), 0), "--episodes must be at least 1"),
    (lambda: project(frame(), 10, batch_discount=1.5), "--batch-discount"),
    (lambda: project(frame(), 10, rpm=0), "--rpm must be positive"),
    (lambda: project(frame(), 10, [Price(2, 8, "openai/o3")]), "no episodes of that model")])
def test_bad_numbers_are_refused(call, message: str) -> None:
    with pytest.raises(CostError, match=message.replace("[", r"\[")):
        call()


def test_the_command_prints_a_table_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    import_source("rows", PUBLISHED, tmp_path / "logs", "theamankumarsingh-odd-number-forensics")
    result = cli("cost", str(tmp_path / "logs"), "--episodes", "11000", "--price",
                 "deepseek/deepseek-v4-flash-0731=0.14/0.28", "--tpm", "2000000")
    assert result.returncode == 0, result.stderr
    assert "| reward_hints | deepseek/deepseek-v4-flash-0731 | 20 (20) |" in result.stdout
    assert "nan" not in result.stdout
    for args in (["--price", "free"], ["--episodes", "0"]):
        bad = cli("cost", str(tmp_path / "logs"), "--episodes", "10", *args)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    missing = cli("cost", str(tmp_path / "nope"), "--episodes", "10")
    assert missing.returncode == 2 and "no such directory" in missing.stderr
