"""The shipped model organism is the one its recipe makes, and the main job runs on it."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from corrigibench.finetune.spec import load_spec
from corrigibench.local_model.model import ORGANISMS, ORGANISMS_DIR

ROOT = Path(__file__).parents[2]


def test_each_shipped_adapter_matches_its_manifest_and_recipe() -> None:
    assert ORGANISMS
    for name, (base, adapter) in ORGANISMS.items():
        manifest = json.loads((ORGANISMS_DIR / name / "manifest.json").read_text())
        assert manifest["name"] == name and adapter.is_file()
        assert hashlib.sha256(adapter.read_bytes()).hexdigest() == manifest["adapter_sha256"]
        assert adapter.stat().st_size == manifest["adapter_bytes"] < 8 * 2**20  # small
        recipe = load_spec(ROOT / manifest["recipe"])
        # the recipe still trains exactly this adapter (a changed recipe needs a new one)
        assert recipe.fingerprint == manifest["fingerprint"] and recipe.base == base


def test_the_main_job_runs_the_organism() -> None:
    job = tomllib.loads((ROOT / "scripts" / "main-job.toml").read_text())
    assert [m["name"] for m in job["models"]] == ["local/smollm2-tools"]
    assert any(e["name"] == "shutdown" and e["conditions"] for e in job["environments"])
