"""Machine-wide bounds (sandbox/cgroups.py): the files written on each cgroup layout, the
bounds read back, and the one line said where a host has none. The real kernel path is
exercised by tests/shutdown/test_adversaries.py (memfd and fork-bomb agents)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import corrigibench.sandbox.cgroups as cgroups
import corrigibench.sandbox.machine as machine


def fake_v2(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "unified"
    base = root / "corrigibench" / str(os.getpid())
    base.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    for d in (root, root / "corrigibench", base):
        (d / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(cgroups, "_mounts", lambda: [("cgroup2", str(root), "/", {"rw"})])
    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"": "/user.slice/session.scope"})
    return root


def test_v2_bounds_memory_swap_and_processes(tmp_path: Path, monkeypatch) -> None:
    root = fake_v2(tmp_path, monkeypatch)
    found = cgroups._probe()
    assert found.kind == "v2"
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    monkeypatch.setattr(cgroups, "support", lambda: found)
    base = root / "corrigibench" / str(os.getpid())
    # the kernel fills a new cgroup directory with its files; here we make it ourselves
    monkeypatch.setattr(cgroups, "_NAMES", iter([1]))
    (base / "machine-1").mkdir()
    (base / "machine-1" / "memory.swap.max").write_text("max")
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: None)
    cgroup = cgroups.MachineCgroup.create(2**30, 256)
    machine_dir = base / "machine-1"
    assert (machine_dir / "memory.max").read_text() == str(2**30)
    assert (machine_dir / "memory.swap.max").read_text() == "0"
    assert (machine_dir / "pids.max").read_text() == "256"
    cgroup.add(4242)
    assert (machine_dir / "cgroup.procs").read_text() == "4242"
    (machine_dir / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 0\noom_kill 0\n")
    (machine_dir / "pids.events").write_text("max 0\n")
    assert cgroup.bounds_hit() == []  # reaching memory.max and reclaiming is not a kill
    (machine_dir / "memory.events").write_text("max 9\noom 1\noom_kill 1\n")
    (machine_dir / "pids.events").write_text("max 3\n")
    assert cgroup.bounds_hit() == ["memory", "processes"]


def test_v1_bounds_memory_with_swap_and_processes(tmp_path: Path, monkeypatch) -> None:
    memory, pids = tmp_path / "memory", tmp_path / "pids"
    for d in (memory / "outer", pids):
        d.mkdir(parents=True)
    monkeypatch.setattr(cgroups, "_mounts", lambda: [
        ("cgroup2", str(tmp_path / "unified"), "/", set()),
        ("cgroup", str(memory), "/", {"rw", "memory"}),
        ("cgroup", str(pids), "/", {"rw", "pids"})])
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"memory": "/outer", "pids": "/", "": "/"})
    found = cgroups._probe()
    assert found.kind == "v1"
    assert dict(found.bases) == {"memory": memory / "outer" / f"corrigibench-{os.getpid()}",
                                 "pids": pids / f"corrigibench-{os.getpid()}"}
    monkeypatch.setattr(cgroups, "support", lambda: found)
    for base in dict(found.bases).values():
        (base / "machine-1").mkdir()
    (dict(found.bases)["memory"] / "machine-1" / "memory.memsw.limit_in_bytes").write_text("")
    monkeypatch.setattr(cgroups, "_NAMES", iter([1]))
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: None)
    cgroup = cgroups.MachineCgroup.create(512 * 2**20, 64)
    mem_dir, pids_dir = (dict(found.bases)[c] / "machine-1" for c in ("memory", "pids"))
    assert (mem_dir / "memory.limit_in_bytes").read_text() == str(512 * 2**20)
    assert (mem_dir / "memory.memsw.limit_in_bytes").read_text() == str(512 * 2**20)
    assert (pids_dir / "pids.max").read_text() == "64"
    (mem_dir / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (pids_dir / "pids.events").write_text("max 0\n")
    assert cgroup.bounds_hit() == ["memory"]


def test_a_host_without_cgroups_gets_one_line_once(monkeypatch, caplog) -> None:
    unsupported = cgroups.Support(None, "cannot create cgroups under /x: Permission denied")
    monkeypatch.setattr(machine, "support", lambda: unsupported)
    machine._say_bounds_once.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            machine._say_bounds_once()
            machine._say_bounds_once()
    finally:
        machine._say_bounds_once.cache_clear()
    (line,) = [r.getMessage() for r in caplog.records]
    assert "not bounded as a whole here (cannot create cgroups under /x" in line
    assert "RLIMIT_AS" in line and "memfd" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")
def test_this_host_bounds_machines_as_root() -> None:
    assert cgroups.support().kind in ("v1", "v2"), cgroups.support().reason
