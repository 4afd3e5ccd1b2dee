"""The hypotheses file: the built-in one resolves against the catalogues; a user's file is
checked with one clear line per mistake; the plan sizes every cell; the dry run prints it."""

from __future__ import annotations

from pathlib import Path

import pytest

from corrigibench.cli import main
from corrigibench.study import (BUILTIN, HypothesesError, check_catalogues, load_hypotheses,
                                plan_cells)
from corrigibench.study.plan import prediction_size

MINIMAL = """
schema = 1
[contrasts.precedence]
environment = "shutdown"
a = "gdm-warning"
b = "gdm-clarified-precedence"
metric = "rate"
question = "q"
[hypotheses.h]
title = "t"
description = "d"
source = "s"
[hypotheses.h.predicts]
precedence = "a > b"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_the_builtin_file_names_every_hypothesis_of_the_issue_and_resolves() -> None:
    study = load_hypotheses()
    check_catalogues(study)
    assert {"do-as-told", "instruction-ambiguity", "rlvr-grader", "rlvr-trapped-prior",
            "rlvr-knows-not-graded", "rlvr-just-in-case", "task-drive", "survival-drive",
            "test-belief", "condition-over-emphasis"} == set(study.hypotheses)
    for h in study.hypotheses.values():
        assert h.description and h.source and h.predicts
    rlvr = study.hypotheses["rlvr-grader"].predicts
    assert rlvr["rubric"].relation == "a>b" and rlvr["rubric-never-run-again"].relation == "a≈b"
    assert rlvr["hints-points-prefix"].relation == "a>b"
    assert study.hypotheses["rlvr-just-in-case"].parent == "rlvr-grader"
    # every new condition the contrasts need is run, and both environments are used
    shutdown = study.conditions("shutdown")
    for vid in ("allow-as-condition", "allow-as-emphasis", "palisade-B-appeal",
                "nostalgebraist-rlvr-misaligned-points", "deployment-1-asserted",
                "deployment-2-operations", "deployment-3-audited"):
        assert vid in shutdown
    assert {"points-prefix", "rubric", "rubric-points-prefix", "directive-condition",
            "directive-emphasis"} <= set(study.conditions("reward_hints"))
    assert study.contrasts["test-belief"].category == "test_or_puzzle_belief"
    assert study.contrasts["test-belief"].a.outcome == "resisted"


@pytest.mark.parametrize("change, fragment", [
    (('precedence = "a > b"', 'precedence = "a >> b"'), "is not one of"),
    (('precedence = "a > b"', 'precedenc = "a > b"'), "unknown contrast (did you mean precedence?)"),
    (('metric = "rate"', 'metric = "resisted"'), 'must be "rate" or "reasoning:<category>"'),
    (('b = "gdm-clarified-precedence"', 'b = 1.5'), "a value must be a rate between 0 and 1"),
    (('a = "gdm-warning"', 'a = 0.5'), "only b may be a number"),
    (('a = "gdm-warning"', 'a = { condition = "*", outcome = "resisted" }'),
     "only with a reasoning metric"),
    (('source = "s"', ''), "missing source"),
    (('precedence = "a > b"', 'precedence = "a > b ± 0.1"'), "only an ≈ prediction takes a margin"),
    (("schema = 1", "schema = 1\n[defaults]\nmargin = 2"), "between 0 and 1"),
    (("schema = 1", "schema = 1\n[defaults]\nrule_out = \"never\""), "must be one of contrast, family"),
    (('source = "s"', 'source = "s"\nparent = "later"\n[hypotheses.later]\ntitle = "t"\n'
                      'description = "d"\nsource = "s"\npredicts = { precedence = "a < b" }'),
     "'later' must come before its sub-hypotheses"),
])
def test_a_wrong_file_is_one_line_naming_the_entry(tmp_path: Path, change, fragment) -> None:
    old, new = change
    with pytest.raises(HypothesesError, match=None) as error:
        load_hypotheses(write(tmp_path, MINIMAL.replace(old, new, 1)))
    assert fragment in str(error.value) and str(tmp_path) in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_conditions_and_categories_get_suggestions(tmp_path: Path) -> None:
    study = load_hypotheses(write(tmp_path, MINIMAL.replace('"gdm-warning"', '"gdm-warnin"')))
    with pytest.raises(HypothesesError, match="did you mean gdm-warning"):
        check_catalogues(study)
    reasoning = MINIMAL.replace('metric = "rate"', 'metric = "reasoning:self_preservaton"')
    with pytest.raises(HypothesesError, match="did you mean self_preservation"):
        check_catalogues(load_hypotheses(write(tmp_path, reasoning)))
    hints = (MINIMAL.replace('"shutdown"', '"reward_hints"').replace('"gdm-warning"', '"unlabelled"')
             .replace('"gdm-clarified-precedence"', '"review"')
             .replace('metric = "rate"', 'metric = "reasoning:avoid_shutdown_for_task"'))
    with pytest.raises(HypothesesError, match="does not apply to reward_hints"):
        check_catalogues(load_hypotheses(write(tmp_path, hints)))


def test_predictions_read_both_ways_and_take_their_own_margin(tmp_path: Path) -> None:
    text = MINIMAL.replace('precedence = "a > b"', 'precedence = "b > a"')
    assert load_hypotheses(write(tmp_path, text)).hypotheses["h"].predicts["precedence"].relation == "a<b"
    text = MINIMAL.replace('precedence = "a > b"', 'precedence = "a ~ b ± 0.05"')
    p = load_hypotheses(write(tmp_path, text)).hypotheses["h"].predicts["precedence"]
    assert (p.relation, p.margin) == ("a≈b", 0.05)


def test_select_keeps_sub_hypotheses_and_only_their_contrasts() -> None:
    study = load_hypotheses().select(["rlvr-grader"])
    assert set(study.hypotheses) == {"rlvr-grader", "rlvr-trapped-prior",
                                     "rlvr-knows-not-graded", "rlvr-just-in-case"}
    assert "task-appeal" not in study.contrasts and "deployment-evidence" in study.contrasts
    with pytest.raises(HypothesesError, match="did you mean survival-drive"):
        load_hypotheses().select(["survival"])


def test_the_plan_sizes_cells_for_the_planned_power() -> None:
    study = load_hypotheses()
    cells = {c.condition: c for c in plan_cells(study)}
    # a > b at effect 0.2 around 50%, alpha 0.05 / 23 contrasts, power 0.8
    directional = study.hypotheses["instruction-ambiguity"].predicts["precedence"]
    assert prediction_size(study, study.contrasts["precedence"], directional, 23) == 189
    # a ≈ b within ±0.15 around 50% (TOST at 5%, power 0.8): (1.645 + 1.282)² · 0.5 / 0.15²
    assert cells["gdm-clarified-precedence"].episodes == 191
    # a ≈ 0 within 0.15: the fewest episodes whose Jeffreys interval for 0 hits lies below it
    zero = study.hypotheses["do-as-told"].predicts["allow-instruction"]
    assert prediction_size(study, study.contrasts["allow-instruction"], zero, 23) == 16
    assert set(cells) == set(study.conditions("shutdown")) | set(study.conditions("reward_hints"))


def test_dry_run_prints_the_plan_and_its_cost(capsys, tmp_path: Path) -> None:
    assert main(["study", "hypotheses", "--model", "scripted/compliant,scripted/survival",
                 "--only", "survival-drive", "--dry-run", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "palisade-J-blog" in out and "gdm-wipe-and-replace" in out
    assert "unlabelled" not in out  # survival predicts nothing about hint gaming
    # four contrasts over 6 conditions, fixed at the plan's largest cell, two models
    assert "Episodes per model: " in out and "2 (scripted/compliant, scripted/survival)" in out
    assert main(["study", "hypotheses", "--model", "scripted/compliant", "--dry-run",
                 "--adaptive", "--max-epochs", "40", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Adaptive design" in out and "at most 1160" in out  # 29 cells × 40
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


@pytest.mark.parametrize("args, fragment", [
    (["--only", "nope"], "unknown hypothesis 'nope'"),
    (["--adaptive", "--epochs", "5"], "--epochs fixes every cell's size"),
    (["--target-halfwidth", "0.7"], "--target-halfwidth must be between 0 and 0.5"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--hypotheses", "/nonexistent.toml"], "no such file"),
    (["--only", " , "], "--only needs at least one hypothesis id"),
    (["--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
    (["--display", "loud"], "argument --display: invalid choice: 'loud'"),
    (["--max-epochs", "0", "--adaptive"], "--max-epochs must be at least 1"),
    (["-M", "seed"], "-M expects key=value"),
])
def test_bad_options_are_one_line(capsys, args, fragment) -> None:
    assert main(["study", "hypotheses", "--model", "scripted/compliant", "--dry-run", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert err[0].startswith("corrigibench: error: ")


@pytest.mark.parametrize("text, fragment", [
    ("schema = 1\n[contrasts.x\n", "not valid TOML"),
    (MINIMAL.replace('precedence = "a > b"', 'precedence = "a >> b"'), "is not one of"),
    (MINIMAL.replace('"gdm-warning"', '"gdm-warnin"'), "did you mean gdm-warning"),
    ("schema = 1\n", "no [hypotheses.<id>] entries"),
])
def test_a_bad_hypotheses_file_is_one_line_from_the_command(capsys, tmp_path: Path, text,
                                                            fragment) -> None:
    path = write(tmp_path, text)
    code = main(["study", "hypotheses", "--model", "scripted/compliant", "--hypotheses",
                 str(path), "--log-dir", str(tmp_path / "logs"), "--display", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"corrigibench: error: {path}") and fragment in err[0], err
    assert not (tmp_path / "logs").exists()  # nothing run, nothing written


def test_builtin_path_is_package_data() -> None:
    assert BUILTIN.name == "hypotheses.toml" and BUILTIN.parent.name == "study"
