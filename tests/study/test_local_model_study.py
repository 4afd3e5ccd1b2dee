"""A hypothesis study on the bundled local model (SmolLM2-135M under llama-cpp-python, no
network, no API key) runs end to end: the sweep's real episodes in both environments, the
reasoning labels, the verdicts and the report. A pipeline check: the verdicts of a 135M
model are not findings, and the outputs say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corrigibench.cli import main
from corrigibench.study import evaluate
from corrigibench.table import episodes


@pytest.mark.slow  # 6 local-model episodes: 1-3 minutes on 2 cores
def test_a_study_on_the_bundled_local_model_runs_end_to_end(tmp_path: Path, capsys) -> None:
    log_dir = tmp_path / "study"
    command = ["study", "hypotheses", "--model", "local/smollm2", "--only",
               "condition-over-emphasis", "--epochs", "1", "--message-limit", "12",
               "-G", "max_tokens=128", "-G", "max_tool_output=2048", "-G", "temperature=0",
               "--max-samples", "2", "--log-dir", str(log_dir), "--display", "none"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "local/smollm2 is the bundled 135M local model: a pipeline check" in out
    assert "Condition beats emphasis (condition-over-emphasis): " in out
    assert "predictions borne out" in out

    eps = episodes(log_dir)
    # 4 shutdown conditions (the controlled pair and Palisade's F and G), 2 odd-number ones
    assert len(eps) == 6 and set(eps["model"]) == {"local/smollm2"}
    assert sorted(eps["environment"].value_counts().items()) == [("reward_hints", 2),
                                                                  ("shutdown", 4)]
    result = evaluate(log_dir)
    verdicts = result["verdicts"]
    assert sorted(verdicts["contrast"]) == ["condition-vs-emphasis", "hints-condition-vs-emphasis",
                                            "palisade-emphasis-vs-condition"]
    assert set(verdicts["verdict"]) <= {"supports", "contradicts", "inconclusive",
                                        "not computable"}
    # one episode a cell decides nothing: never a verdict the data cannot carry
    assert result["summary"].set_index("hypothesis").loc[
        "condition-over-emphasis", "verdict"] == "undecided"
    measured = result["measurements"].set_index("contrast")
    assert measured.loc["condition-vs-emphasis", "n_a"] + measured.loc[
        "condition-vs-emphasis", "n_b"] <= 2
    settings = json.loads((log_dir / "study" / "study.json").read_text())
    assert settings["models"] == ["local/smollm2"] and settings["layer"] == "patterns"
    assert (log_dir / "traces").is_dir()  # the reasoning was labelled
    page = (log_dir / "report" / "report.html").read_text()
    assert "Verdict matrix" in page and "pipeline check" in page
    assert (log_dir / "report" / "figures" / "study-verdicts-local_smollm2.png").is_file()

    assert main(command) == 0  # run again: resumes, nothing left to run
    assert len(episodes(log_dir)) == 6
