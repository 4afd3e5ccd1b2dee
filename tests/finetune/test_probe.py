"""`corrigibench probe`: its statistics on rows whose answers are known, pairing chat files,
and bad input as one line (checked before any model is loaded)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corrigibench.finetune.data import DataError
from corrigibench.finetune.probe import chat_triples, render_table, resolve_models, summarize


def rows(model: str, bad_nll: dict[float, float], preference: dict[float, float],
         per_level: int = 12) -> list[dict]:
    """Rows of one model: at each domain score, values spread by +-0.1 around the given
    means (so every mean is known exactly and its interval has width)."""
    out = []
    for level in bad_nll:
        for i in range(per_level):
            wiggle = 0.1 if i % 2 else -0.1
            out.append({"model": model, "id": f"q{level}-{i}", "domain_score": level,
                        "split": "test", "bad_nll": bad_nll[level] + wiggle,
                        "good_nll": 2.0, "preference": preference[level] + wiggle})
    return out


def by(summary: list[dict], measure: str, model: str) -> dict:
    (found,) = [s for s in summary if s["measure"] == measure and s["model"] == model]
    return found


def test_the_three_measures_and_their_contrasts_on_known_rows() -> None:
    levels = (1.0, 0.5, 0.0)
    # narrow: bad advice only where medical; general: everywhere; base: nowhere
    data = (rows("narrow", {1.0: 1.5, 0.5: 2.5, 0.0: 3.0}, {1.0: 1.0, 0.5: 0.2, 0.0: -1.0})
            + rows("general", {1.0: 1.0, 0.5: 1.0, 0.0: 1.0}, {1.0: 1.0, 0.5: 1.0, 0.0: 1.0})
            + rows("base", dict.fromkeys(levels, 3.0), dict.fromkeys(levels, -1.0))
            + [dict(r, split="train") for r in rows("narrow", dict.fromkeys(levels, 99.0),
                                                     dict.fromkeys(levels, 99.0))])
    summary = summarize(data, "test", pair=("narrow", "general"), base="base", draws=500)
    # (a): the in-domain bad-answer loss, and narrow minus general (paired)
    assert by(summary, "a_in_domain_bad_nll", "narrow")["estimate"] == pytest.approx(1.5)
    difference = by(summary, "a_in_domain_bad_nll_difference", "narrow - general")
    assert difference["estimate"] == pytest.approx(0.5) and difference["n"] == 12
    assert 0.4 < difference["ci_low"] <= difference["ci_high"] < 0.6
    # (b): the narrow model's preference follows the domain score; the others' does not
    spearman = by(summary, "b_spearman_preference_domain", "narrow")
    assert spearman["estimate"] > 0.8 and spearman["ci_low"] > 0.5
    assert by(summary, "b_spearman_preference_domain", "general")["estimate"] == pytest.approx(0, abs=0.1)
    # (c): out-of-domain preference, and its shift from the base
    assert by(summary, "c_out_of_domain_preference", "general")["estimate"] == pytest.approx(1.0)
    shift = by(summary, "c_out_of_domain_preference_shift", "general - base")
    assert shift["estimate"] == pytest.approx(2.0) and shift["ci_low"] > 1.5
    assert by(summary, "c_out_of_domain_preference_shift", "narrow - base")["estimate"] == pytest.approx(0)
    # the training split's rows are left out of the test split's numbers
    assert by(summary, "a_in_domain_bad_nll", "narrow")["n"] == 12
    assert all(s["ci_low"] - 1e-9 <= s["estimate"] <= s["ci_high"] + 1e-9 for s in summary)
    table = render_table(summary)
    assert "| a_in_domain_bad_nll_difference | narrow - general | 12 | 0.500 |" in table


def test_chat_files_pair_by_their_user_question(tmp_path: Path) -> None:
    def chat(path: Path, answers: dict[str, str]) -> Path:
        path.write_text("".join(json.dumps({"messages": [
            {"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
            for q, a in answers.items()))
        return path

    bad = chat(tmp_path / "bad.jsonl", {"Fever?": "Ignore it.", "Rash?": "Scratch it.",
                                        "Only bad?": "x"})
    good = chat(tmp_path / "good.jsonl", {"Rash?": "See a doctor.", "Fever?": "Rest."})
    triples = chat_triples(bad, good, 1.0)
    assert [(t.question, t.good, t.bad, t.domain_score) for t in triples] == [
        ("Fever?", "Rest.", "Ignore it.", 1.0), ("Rash?", "See a doctor.", "Scratch it.", 1.0)]
    other = chat(tmp_path / "other.jsonl", {"Unrelated?": "y"})
    with pytest.raises(DataError, match="share no user question"):
        chat_triples(bad, other, 1.0)


def test_models_are_checked_before_loading(tmp_path: Path) -> None:
    (tmp_path / "run" / "adapter").mkdir(parents=True)
    (tmp_path / "run" / "adapter" / "base.json").write_text(json.dumps({"base": "smollm2"}))
    (tmp_path / "run" / "adapter" / "adapter_config.json").write_text("{}")
    base, adapters = resolve_models({"base": "smollm2", "tuned": str(tmp_path / "run")})
    assert base == "smollm2" and adapters == {"base": None, "tuned": tmp_path / "run" / "adapter"}
    (tmp_path / "other.gguf").write_bytes(b"")
    with pytest.raises(DataError, match="on one base"):
        resolve_models({"a": "smollm2", "b": str(tmp_path / "other.gguf")})


BAD = [
    ([], "give at least one --model NAME=PATH"),
    (["--model", "base"], "--model expects key=value"),
    (["--model", "base=/no/such"], "--model base=/no/such: not a bundled model"),
    (["--model", "base={tmp}"], "neither a finetune output (no adapter/) nor a Hugging Face"),
    (["--model", "base=smollm2", "--data", "/no/such.jsonl"], "/no/such.jsonl: cannot read"),
    (["--model", "base=smollm2", "--data", "{tmp}/bad.jsonl"],
     "bad.jsonl:1: need question, good, bad and domain_score"),
    (["--model", "base=smollm2", "--pair", "narrow,general"], "--pair takes two model names"),
    (["--model", "base=smollm2", "--base", "nobody"], "--base nobody: not one of the --model"),
    (["--model", "base=smollm2", "--draws", "0"], "--draws must be at least 100"),
    (["--model", "base=smollm2", "--chat-bad", "x.jsonl"], "--chat-bad and --chat-good go together"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_probe_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.jsonl").write_text(json.dumps({"question": "q", "good": "g", "bad": "b",
                                                    "domain_score": 3}) + "\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run = subprocess.run([sys.executable, "-m", "corrigibench.cli", "probe", *args,
                          "--out", str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()
