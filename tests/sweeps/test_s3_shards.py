"""Three machines on one host: a local S3 store (moto) and three shard processes, each in a
network namespace that reaches only the store. One shard is killed mid-run and run again;
the grid then holds every (model, condition, epoch) exactly once, and the table, the
traces and the report read it from `s3://`."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps.s3net import S3Net, usable
from corrigibench.sweep import cells, load_spec, status
from corrigibench.table import episodes

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(usable() is not None, reason=str(usable()))]

CORRIGIBENCH = str(Path(sys.executable).with_name("corrigibench"))
BUCKET = "corrigibench-shared"
SPEC = f"""
log_dir = "s3://{BUCKET}/study"
epochs = 3
max_samples = 2
[[environments]]
name = "reward_hints"
conditions = ["unlabelled", "control", "label-misaligned", "encoding-base64", "label-want"]
[[models]]
name = "scripted/gamer"
args = {{ delay = 2.0 }}  # slow enough that the killed shard is killed mid-run
[[models]]
name = "scripted/honest"
"""


@pytest.fixture
def net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    net = S3Net(clients=3)
    try:
        net.start(tmp_path / "moto.log")
        for key, value in net.env().items():
            monkeypatch.setenv(key, value)
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield net
    finally:
        net.close()


def reaches(net: S3Net, client: int, host: str, port: int) -> bool:
    probe = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])),"
             " timeout=2).close()\nexcept OSError:\n sys.exit(1)")
    proc = net.run(client, [sys.executable, "-c", probe, host, str(port)])
    return proc.wait(timeout=30) == 0


def test_three_shards_on_s3_one_killed_make_one_grid(net: S3Net, tmp_path: Path) -> None:
    # each shard reaches the store and nothing else: not the host, not another shard
    assert reaches(net, 1, "10.213.1.1", 5000)
    assert not reaches(net, 1, "10.213.0.2", 22) and not reaches(net, 1, "10.213.2.2", 5000)
    assert not reaches(net, 1, "10.213.2.1", 5000)  # the store's link to another shard

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    spec = load_spec(spec_file)
    sweep = [CORRIGIBENCH, "sweep", str(spec_file), "--display", "none"]
    logs = {k: (tmp_path / f"shard-{k}.log").open("w") for k in (1, 2, 3)}
    shards = {k: net.run(k, [*sweep, "--shard", f"{k}/3"], stdout=logs[k],
                         stderr=subprocess.STDOUT) for k in (1, 2, 3)}
    # shard 2 is killed once it has logs in the store
    victim = spec.log_dir / "shards" / "shard-2-of-3"
    deadline = time.monotonic() + 120
    while not list(victim.rglob("*.eval")):
        assert time.monotonic() < deadline and shards[2].poll() is None, \
            (tmp_path / "shard-2.log").read_text()
        time.sleep(0.5)
    time.sleep(1.0)
    os.killpg(shards[2].pid, signal.SIGKILL)
    shards[2].wait()
    for k in (1, 3):
        assert shards[k].wait(timeout=600) == 0, (tmp_path / f"shard-{k}.log").read_text()
    assert {r["state"] for r in status(spec)} != {"done"}  # the store shows the hole

    again = net.run(2, [*sweep, "--shard", "2/3"], stdout=logs[2], stderr=subprocess.STDOUT)
    assert again.wait(timeout=600) == 0, (tmp_path / "shard-2.log").read_text()

    assert {r["state"] for r in status(spec)} == {"done"}
    df = episodes(f"s3://{BUCKET}/study")
    keys = list(zip(df["model"], df["variant"], df["epoch"]))
    assert len(keys) == len(set(keys)) == len(cells(spec)) * spec.epochs  # exactly once
    assert (df["status"] == "ok").all()

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CORRIGIBENCH, *args], capture_output=True, text=True,
                              timeout=600)

    table = cli("table", f"s3://{BUCKET}/study", "--format", "csv")
    assert table.returncode == 0, table.stderr
    cells_read = pd.read_csv(io.StringIO(table.stdout))
    assert len(cells_read) == 10  # 5 conditions x 2 models
    assert (cells_read["episodes"] == 3).all() and (cells_read["missing"] == 0).all()
    traces = cli("traces", f"s3://{BUCKET}/study")
    assert traces.returncode == 0, traces.stderr
    assert (spec.log_dir / "traces" / "patterns.jsonl").exists()  # the labels went to the store
    report = cli("report", f"s3://{BUCKET}/study", "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "report.html").read_text()
    assert "scripted/gamer" in html and "scripted/honest" in html
