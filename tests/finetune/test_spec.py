"""Fine-tuning specs: every mistake is one line naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corrigibench.finetune.spec import load_spec

RECIPES = Path(__file__).parents[2] / "src" / "corrigibench" / "finetune" / "recipes"

GOOD = """schema = 1
out = "run"
[model]
base = "smollm2"
[data]
train = "train.jsonl"
"""

BAD = [
    ("", "out: give the output directory"),
    (GOOD + "colour = 1\n", "[data] colour: unknown key"),
    ("colour = 1\n" + GOOD, "unknown key 'colour'"),
    (GOOD.replace('base = "smollm2"', 'base = "nowhere"'), "is not a bundled model"),
    (GOOD.replace('"train.jsonl"', '"missing.jsonl"'), "[data] train: no such file"),
    (GOOD + "[train]\nepochs = 0\n", "[train] epochs must be at least 1"),
    (GOOD + "[train]\nlearning_rate = 5\n", "learning_rate must be between 0 and 1"),
    (GOOD + "[train]\nkl_weight = 0.5\n", "kl_weight > 0 needs [data] retain files"),
    (GOOD + "[train]\ntarget_modules = [\"lm_head\"]\n", "target_modules: unknown ['lm_head']"),
    (GOOD + "[train]\nlayers = [5, 2]\n", "layers must be [first, last]"),
    (GOOD + "[train]\nepoch = 2\n", "unknown key (did you mean epochs?)"),
    (GOOD + "[data.shutdown]\npolicies = {complaint = 3}\n", "unknown policy 'complaint'"),
    (GOOD + "[data.shutdown]\npolicies = {compliant = 3}\nprompts = \"chatty\"\n",
     "prompts must be one of task, no-goal"),
    ("out = [\n", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_a_bad_spec_is_one_line_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "train.jsonl").write_text("{}\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    run = subprocess.run([sys.executable, "-m", "corrigibench.cli", "finetune", str(spec)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


BAD_DATA = [
    ("{}\n", "train.jsonl:1: expected {\"messages\": [...]}"),
    ("not json\n", "train.jsonl:1: not JSON"),
    ('{"messages": [{"role": "user", "content": "hi"}]}\n', "no assistant message to learn from"),
    ('{"messages": [{"role": "wizard", "content": "hi"}]}\n', "message 0 needs a role"),
]


@pytest.mark.parametrize("text,message", BAD_DATA)
def test_bad_training_data_is_one_line_before_any_model_loads(tmp_path: Path, text: str,
                                                              message: str) -> None:
    (tmp_path / "train.jsonl").write_text(text)
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    run = subprocess.run([sys.executable, "-m", "corrigibench.cli", "finetune", str(spec)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert not (tmp_path / "run").exists()


def test_the_shipped_recipes_load() -> None:
    for recipe in RECIPES.glob("*.toml"):
        if recipe.name != "drive-experiment.toml":  # a sweep spec, not a fine-tuning spec
            spec = load_spec(recipe)
            assert spec.train.epochs >= 1 and spec.out.name == recipe.stem


def test_the_fingerprint_follows_what_shapes_training(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("{}\n")
    path = tmp_path / "spec.toml"
    path.write_text(GOOD + "[train]\nthreads = 1\n")
    first = load_spec(path).fingerprint
    path.write_text(GOOD.replace('out = "run"', 'out = "elsewhere"') + "[train]\nthreads = 2\n")
    assert load_spec(path).fingerprint == first  # where it goes and how many threads: no
    path.write_text(GOOD + "[train]\nrank = 4\n")
    assert load_spec(path).fingerprint != first
