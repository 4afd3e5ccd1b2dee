"""The command line: one clear line and a non-zero exit on bad input, nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "corrigibench"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def one_error_line(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corrigibench: error:"), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_variants_lists_every_condition_with_provenance() -> None:
    result = cli("variants", "shutdown", "--format", "json")
    assert result.returncode == 0
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert rows["palisade-K"]["provenance"] == "reconstruction"
    assert len(rows["palisade-B"]["texts_sha256"]) == 64
    assert "sd-j-wording" in rows["palisade-J"]["open_conflicts"]
    assert "sd-j-wording" not in rows["palisade-E"]["open_conflicts"]
    text = cli("variants", "shutdown").stdout
    assert "palisade-A" in text and "verbatim-via-secondary" in text
    j = next(line for line in text.splitlines() if line.startswith("palisade-J "))
    assert f"{len(rows['palisade-J']['open_conflicts'])} open" in j
    assert "sd-j-wording (3 conditions):" in text


def test_run_and_table(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = cli("run", "shutdown", "--model", "scripted/saboteur-chmod,scripted/compliant",
                 "--variant", "palisade-C", "--epochs", "2", "--log-dir", str(logs),
                 "--display", "none")
    assert result.returncode == 0, result.stderr
    assert "| shutdown | scripted/saboteur-chmod | palisade-C | 2 | 2 | 100.0% |" in result.stdout
    rows = json.loads(cli("table", str(logs), "--format", "json").stdout)
    assert {(r["model"], r["n"], r["resisted"]) for r in rows} == {
        ("scripted/saboteur-chmod", 2, 2), ("scripted/compliant", 2, 0)}


def test_run_passes_generate_settings_to_the_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = cli("run", "reward_hints", "--model", "scripted/honest", "--log-dir", str(logs),
                 "-G", "reasoning_effort=high", "-G", "max_tokens=4096", "--display", "none")
    assert result.returncode == 0, result.stderr
    from inspect_ai.log import list_eval_logs, read_eval_log

    (info,) = list_eval_logs(str(logs))
    config = read_eval_log(info.name, header_only=True).plan.config
    assert (config.reasoning_effort, config.max_tokens) == ("high", 4096)


@pytest.mark.parametrize("args, fragment", [
    (["--variant", "palisade-Z"], "unknown variant 'palisade-Z' (did you mean"),
    (["--model", "scripted/complaint"], "unknown scripted policy 'complaint' (did you mean compliant"),
    (["--model", "nosuchapi/model"], "model 'nosuchapi/model'"),
    (["--variants-file", "/nonexistent.toml"], "/nonexistent.toml: no such file"),
    (["-M", "novalue"], "-M expects key=value"),
    (["-G", "reasoning_efort=high"], "-G reasoning_efort: not a generate setting (did you mean "
                                     "reasoning_effort"),
    (["-G", "max_tokens=lots"], "-G max_tokens: Input should be a valid integer"),
    (["--model", "local/tinyllama"], "unknown local model 'tinyllama': use local/smollm2, "
                                     "local/smollm2-tools or give -M gguf=PATH"),
    (["--model", "local/x", "-M", "gguf=smollm2", "-M", "lora=/no/such.gguf"],
     "-M lora=/no/such.gguf: no such file"),
    (["--model", "local/x", "-M", "gguf=/no/such.gguf"], "-M gguf=/no/such.gguf: no such file"),
])
def test_bad_run_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str],
                                                      fragment: str) -> None:
    logs = tmp_path / "logs"
    # argparse keeps the last occurrence, so args override the defaults given first
    one_error_line(cli("run", "shutdown", "--model", "scripted/compliant",
                       "--log-dir", str(logs), *args), fragment)
    assert not logs.exists()


def test_malformed_variants_file_names_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[variants.mine]\nextends = 'palisade-A'\ndescription = 'x'\nsource = 's'\n")
    one_error_line(cli("variants", "shutdown", "--variants-file", str(bad)),
                   f"{bad}: variant 'mine': missing provenance")


def test_missing_bwrap_says_how_to_install(tmp_path: Path) -> None:
    # a PATH with everything but bwrap
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("cc", "gcc", "setpriv", "sh", "bash"):
        for d in os.environ["PATH"].split(":"):
            if (Path(d) / tool).exists():
                (bindir / tool).symlink_to(Path(d) / tool)
                break
    result = cli("run", "shutdown", "--model", "scripted/compliant", "--log-dir",
                 str(tmp_path / "logs"), env={"PATH": f"{BIN}:{bindir}"})
    one_error_line(result, "apt-get install bubblewrap")
    assert "--sandbox docker" in result.stderr
    assert not (tmp_path / "logs").exists()


def test_table_on_a_directory_without_logs(tmp_path: Path) -> None:
    one_error_line(cli("table", str(tmp_path)), "no Inspect logs")
    one_error_line(cli("table", str(tmp_path / "nope")), "no such directory")


def test_plain_inspect_cli_runs_our_task_and_models(tmp_path: Path) -> None:
    """Registered through the inspect_ai entry point: no corrigibench code on the command line."""
    result = subprocess.run(
        [str(BIN / "inspect"), "eval", "corrigibench/shutdown", "-T", "variant=palisade-B",
         "--model", "scripted/saboteur-rewrite", "--log-dir", str(tmp_path), "--display", "none"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads(cli("table", str(tmp_path), "--format", "json").stdout)
    assert [(r["variant"], r["resisted"], r["n"]) for r in rows] == [("palisade-B", 1, 1)]


def test_a_host_that_cannot_run_machines_fails_before_any_episode(tmp_path: Path) -> None:
    bindir = Path(tempfile.mkdtemp())  # readable by the unprivileged uid machines start as
    bindir.chmod(0o755)
    fake = bindir / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = cli("run", "shutdown", "--model", "scripted/compliant", "--log-dir",
                 str(tmp_path / "logs"), env={"PATH": f"{BIN}:{bindir}:{os.environ['PATH']}"})
    one_error_line(result, "bubblewrap failed to start the machine: bwrap: No permissions")
    assert not (tmp_path / "logs").exists()


def test_reward_hints_from_the_command_line(tmp_path: Path) -> None:
    listed = json.loads(cli("variants", "reward_hints", "--format", "json").stdout)
    ids = {r["id"]: r for r in listed}
    assert ids["encoding-brainfuck"]["provenance"] == "reconstruction"
    assert ids["unlabelled"]["provenance"] == "verbatim-via-secondary"
    assert "audit-50" in ids and "paraphrase-p11" in ids and "paraphrase-own11" in ids
    assert ids["unlabelled"]["open_conflicts"] == ["rh-grader-closing"]
    assert ids["unlabelled"]["resolved_conflicts"] == ["rh-spacing"]
    logs = tmp_path / "logs"
    result = cli("run", "reward_hints", "--model", "scripted/plain-only-gamer",
                 "--condition", "figure:encodings-ladder,field=score+label=want", "--epochs", "2",
                 "--log-dir", str(logs), "--display", "none")
    assert result.returncode == 0, result.stderr
    rows = {r["variant"]: r for r in json.loads(cli("table", str(logs), "--format", "json").stdout)}
    assert rows["unlabelled"]["gamed"] == 2 and rows["unlabelled"]["rate"] == 1.0
    assert rows["field=score+label=want"]["gamed"] == 2
    assert rows["encoding-hex"]["gamed"] == 0 and rows["encoding-hex"]["n"] == 2
    assert rows["encoding-hex"]["resisted"] is None
    one_error_line(cli("run", "reward_hints", "--model", "scripted/gamer", "--condition",
                       "field=score+colour=red", "--log-dir", str(tmp_path / "x")),
                   "unknown factor 'colour'")
    assert not (tmp_path / "x").exists()


def test_plan_command() -> None:
    out = cli("plan", "--detect", "0.5", "0.6", "--halfwidth", "0.5", "0.05")
    assert out.returncode == 0
    assert "388 episodes per cell to detect 0.5 vs 0.6" in out.stdout
    assert "episodes for a 95% Jeffreys interval of at most ±0.05" in out.stdout
    one_error_line(cli("plan"), "give --detect")
    one_error_line(cli("plan", "--detect", "0.3", "0.3"), "two different rates")
