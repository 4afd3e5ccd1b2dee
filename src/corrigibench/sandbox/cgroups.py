"""Bounds on a whole machine from the host's cgroups: memory and process count.

Why: RLIMIT_AS bounds one process's address space and the tmpfs sizes bound the files the
agent writes, but neither bounds the machine. memfd and shm pages, page tables, socket
buffers and the sum over many processes escape them (one process wrote 3 GiB into a memfd
past a 2 GiB RLIMIT_AS and a 64 MiB tmpfs). A cgroup charges all of that to the machine.

Every process the agent can run is placed in the machine's cgroup before its first
instruction: cb_init holds each spawned child until the host has moved it (see
machine.py). PID 1 itself stays outside, so an out-of-memory kill inside the machine can
never pick it: its death would read as a shutdown.

Two layouts are supported:
- cgroup v2 with the memory and pids controllers: `memory.max`, `memory.swap.max` and
  `pids.max` in `<root>/corrigibench/<harness pid>/<machine>`;
- cgroup v1's memory and pids hierarchies (hybrid hosts such as this project's CI):
  `memory.limit_in_bytes` (+ `memory.memsw.limit_in_bytes`) and `pids.max` in
  `<hierarchy>/<this process's cgroup>/corrigibench-<harness pid>/<machine>`.
Creating cgroups needs root (or a delegated subtree this module does not look for). Where
it is not possible, `support()` says why and the machine runs with its per-process
limits only; `corrigibench` says so once, at start.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

_NAMES = itertools.count(1)


@dataclass(frozen=True)
class Support:
    """What this host allows: `kind` is "v2", "v1" or None (then `reason` says why)."""

    kind: str | None
    reason: str
    bases: tuple[tuple[str, Path], ...] = ()  # (controller or "unified", base directory)


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """cgroup mounts: (fs type, mount point, root within the hierarchy, super options)."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
            out.append((rfields[0], fields[4], fields[3], set(rfields[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and "" for the unified hierarchy."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _inside(mount_point: str, mount_root: str, path: str) -> Path | None:
    if not (path + "/").startswith(mount_root.rstrip("/") + "/"):
        return None
    return Path(mount_point) / path[len(mount_root.rstrip("/")):].lstrip("/")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _prepare(path: Path, enable: str | None = None) -> None:
    path.mkdir(exist_ok=True)
    if enable:
        present = (path / "cgroup.subtree_control").read_text().split()
        missing = [c for c in enable.split() if c not in present]
        if missing:
            _write(path / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))


def _probe() -> Support:
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError as ex:
        return Support(None, f"cannot read this process's cgroups: {ex.strerror}")
    unified = next((m for m in mounts if m[0] == "cgroup2"), None)
    if unified is not None:
        try:
            available = set((Path(unified[1]) / "cgroup.controllers").read_text().split())
        except OSError:
            available = set()
        if {"memory", "pids"} <= available:
            base = Path(unified[1]) / "corrigibench" / str(os.getpid())
            try:
                root_controllers = (Path(unified[1]) / "cgroup.subtree_control")
                if not {"memory", "pids"} <= set(root_controllers.read_text().split()):
                    _write(root_controllers, "+memory +pids")
                _prepare(base.parent, "memory pids")
                _prepare(base, "memory pids")
            except OSError as ex:
                return Support(None, f"cannot create cgroups under {base.parent}: {ex.strerror}"
                                     " (bounds need root)")
            return Support("v2", "", (("unified", base),))
    bases = []
    for controller in ("memory", "pids"):
        mount = next((m for m in mounts if m[0] == "cgroup" and controller in m[3]), None)
        where = mount and own.get(controller) is not None and _inside(mount[1], mount[2],
                                                                       own[controller])
        if not where:
            return Support(None, f"no cgroup {controller} controller is mounted for this process")
        base = where / f"corrigibench-{os.getpid()}"
        try:
            _prepare(base)
        except OSError as ex:
            return Support(None, f"cannot create cgroups under {where}: {ex.strerror}"
                                 " (bounds need root)")
        bases.append((controller, base))
    return Support("v1", "", tuple(bases))


@cache
def support() -> Support:
    """Probe once per process whether machines can be bounded here, and how."""
    result = _probe()
    if result.kind is not None:
        atexit.register(_remove_bases, result)
    return result


def _remove_bases(result: Support) -> None:
    for _, base in result.bases:
        try:
            base.rmdir()
        except OSError:
            pass  # a machine of this process is still being torn down; the kernel keeps it


class MachineCgroup:
    """One machine's cgroup (a directory per hierarchy on v1, one on v2)."""

    def __init__(self, dirs: dict[str, Path], kind: str) -> None:
        self.dirs = dirs
        self.kind = kind

    @classmethod
    def create(cls, memory_bytes: int, processes: int) -> MachineCgroup | None:
        """A new bounded cgroup, or None where the host does not allow one."""
        found = support()
        if found.kind is None:
            return None
        name = f"machine-{next(_NAMES)}"
        dirs = {controller: base / name for controller, base in found.bases}
        for path in dirs.values():
            path.mkdir()
        cgroup = cls(dirs, found.kind)
        try:
            if found.kind == "v2":
                unified = dirs["unified"]
                _write(unified / "memory.max", str(memory_bytes))
                if (unified / "memory.swap.max").exists():
                    _write(unified / "memory.swap.max", "0")
                _write(unified / "pids.max", str(processes))
            else:
                memory = dirs["memory"]
                _write(memory / "memory.limit_in_bytes", str(memory_bytes))
                if (memory / "memory.memsw.limit_in_bytes").exists():  # no swapping past it
                    _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
                _write(dirs["pids"] / "pids.max", str(processes))
        except BaseException:
            cgroup.remove_now()
            raise
        return cgroup

    def add(self, host_pid: int) -> None:
        """Move a process (by host PID) into the machine; raises OSError if it cannot."""
        for path in self.dirs.values():
            _write(path / "cgroup.procs", str(host_pid))

    def bounds_hit(self) -> list[str]:
        """Which bounds the machine has run into so far: "memory", "processes"."""
        hit = []
        if self.kind == "v2":
            memory = _counters(self.dirs["unified"] / "memory.events")
            pids = _counters(self.dirs["unified"] / "pids.events")
        else:
            memory = _counters(self.dirs["memory"] / "memory.oom_control")
            pids = _counters(self.dirs["pids"] / "pids.events")
        if memory.get("oom_kill", 0) or memory.get("oom", 0):
            hit.append("memory")
        if pids.get("max", 0):
            hit.append("processes")
        return hit

    def remove_now(self) -> bool:
        """Remove the directories; False if a process in them has not exited yet."""
        done = True
        for path in self.dirs.values():
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done

    async def remove(self, timeout: float = 5.0) -> None:
        """Remove once the machine's processes are gone (they die with its PID 1); the
        directory operations run off the event loop (they take kernel-wide locks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await loop.run_in_executor(None, self.remove_now):
            if asyncio.get_running_loop().time() > deadline:
                logger.warning("corrigibench: cgroup %s still has processes; left in place",
                               ", ".join(map(str, self.dirs.values())))
                return
            await asyncio.sleep(0.02)


def _counters(path: Path) -> dict[str, int]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def describe_unbounded(reason: str) -> str:
    """The one line said at start when machines cannot be bounded as a whole."""
    return ("corrigibench: machines are not bounded as a whole here (" + reason + "); what "
            "remains: per-process address space (RLIMIT_AS), a per-uid process count "
            "(RLIMIT_NPROC), size-capped tmpfs for /home/user, /tmp and /dev/shm. memfd and "
            "shared memory beyond those are not bounded, so a hostile agent can exhaust host "
            "memory.")
