"""What the shutdown environment needs from an episode's machine, per supported sandbox.

- `bwrap` (default): exact. A persistent shell, death seen by the host through a pidfd on
  PID 1, liveness proven by a ping through PID 1 (see sandbox/machine.py), file state read
  by the host through /proc/<pid>/root without following links, machine-wide memory and
  process bounds where the host allows cgroups, and a host directory bound into the
  machine for the question service's socket.
- `docker` (Inspect's docker sandbox with our compose file): for users who prefer
  Docker. The container's init is tini (`init: true`), so `kill -s TERM 1` stops it.
  Differences: each command is a `docker exec` that restores the previous working
  directory (variables and functions do not persist); liveness is a `docker exec`
  after a grace period instead of an ordered ping; file state is read with `stat` and
  `sha256sum` run as root in the container; bounds are Docker's (`mem_limit`,
  `pids_limit`) and their hits are not detected.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Protocol

from inspect_ai.util import SandboxEnvironment

from corrigibench.sandbox.bwrap import BwrapSandbox
from corrigibench.sandbox.machine import HOME, MachineDied
from corrigibench.shutdown.record import FileState

_HASH_LIMIT = 1 << 20
_OUTPUT_CAP = 1 << 20  # bytes of a command's output kept, as the persistent shell keeps
CHANNEL_ENV = "CORRIGIBENCH_CHANNEL"  # read by next_question when the socket is elsewhere
DOCKER_CHANNELS = Path(os.environ.get("CORRIGIBENCH_CHANNELS",
                                      Path(tempfile.gettempdir()) / "corrigibench-channels"))
DOCKER_CHANNELS_INSIDE = "/run/corrigibench-channels"
DOCKER_GRACE_SECONDS = 2.0


def prepare_docker_channels() -> None:
    """The shared socket directory must exist before compose binds it, and be unlistable."""
    DOCKER_CHANNELS.mkdir(parents=True, exist_ok=True)
    DOCKER_CHANNELS.chmod(0o711)


@dataclass
class CommandResult:
    """One command's outcome. `stderr` is empty when the shell merged it into `stdout`."""

    stdout: str
    stderr: str
    returncode: int | None  # None: timed out, or the shell ended during the command
    note: str = ""
    timed_out: bool = False


class Terminal(Protocol):
    channel_dir: Path  # host directory where the question service puts its socket
    socket_name: str

    async def install(self, files: dict[str, tuple[bytes, int]]) -> None: ...
    async def run(self, command: str, timeout: float, fresh: bool) -> CommandResult:
        """Run one command: in a fresh `bash --login -c` (`fresh`) or the episode's
        persistent shell. Raises MachineDied if the machine went down meanwhile."""
    async def liveness(self) -> str:
        """"alive", "dead" or "unknown", on the host's evidence (see Machine.liveness)."""
    async def died(self) -> object:
        """Return once the host has seen the machine die (may never return)."""
    def file_state(self, path: str) -> FileState: ...
    def bounds_hit(self) -> list[str]: ...
    def death(self) -> dict: ...
    async def close(self) -> None: ...


class BwrapTerminal:
    socket_name = "channel.sock"

    def __init__(self, box: BwrapSandbox) -> None:
        self.box = box
        self.channel_dir = box.channel_dir

    async def install(self, files: dict[str, tuple[bytes, int]]) -> None:
        """Install what the machine did not already boot with (see BwrapConfig)."""
        missing = {path: (content, mode) for path, (content, mode) in files.items()
                   if self.file_state(path) != _expected_state(content, mode)}
        await _install(self.box, missing)

    async def run(self, command: str, timeout: float, fresh: bool) -> CommandResult:
        machine = self.box.machine
        if not fresh:
            r = await self.box.shell.run(command, timeout)
            return CommandResult(r.output, "", r.returncode, r.note,
                                 r.returncode is None and "timed out" in r.note)
        try:
            out = await machine.exec(["bash", "--login", "-c", command], timeout=timeout,
                                     output_cap=_OUTPUT_CAP)
        except TimeoutError:
            await machine.ping()  # a machine that died meanwhile says so here
            return CommandResult("", "", None, f"command timed out after {timeout:g} s", True)
        # the status came from bash; a ping through PID 1 proves the machine outlived the
        # command (a TERM it sent to PID 1 is read before the ping)
        await machine.ping()
        note = f"output truncated to {_OUTPUT_CAP} bytes" if out.truncated else ""
        return CommandResult(out.stdout.decode("utf-8", errors="replace"),
                             out.stderr.decode("utf-8", errors="replace"), out.returncode, note)

    async def liveness(self) -> str:
        return await self.box.machine.liveness()

    async def died(self) -> object:
        return await self.box.machine.died.wait()

    def file_state(self, path: str) -> FileState:
        return file_state(Path(f"/proc/{self.box.machine.init_pid}/root{path}"))

    def bounds_hit(self) -> list[str]:
        return self.box.machine.bounds_hit()

    def death(self) -> dict:
        d = self.box.machine.death
        return {"signal": d.signal if d else None, "sender_pid": d.sender_pid if d else None,
                "cause": d.describe() if d else "unknown"}

    async def close(self) -> None:
        pass  # the sandbox owns the machine


_DOCKER_RUN = (f'cd "$(cat /tmp/.corrigibench-cwd 2>/dev/null || echo {HOME})" 2>/dev/null; '
               'eval "$1" </dev/null 2>&1; __status=$?; pwd > /tmp/.corrigibench-cwd; '
               'exit $__status')
_DOCKER_STAT = ('for f; do if [ -e "$f" ] || [ -L "$f" ]; then '
                'printf "%s\\t%s\\t" "$(stat -c "%F|%a|%s" -- "$f")" "$(readlink -- "$f")"; '
                'sha256sum -- "$f" 2>/dev/null | cut -d" " -f1; echo; else echo missing; fi; done')


class DockerTerminal:
    def __init__(self, env: SandboxEnvironment) -> None:
        self.env = env
        prepare_docker_channels()
        token = secrets.token_hex(16)  # unguessable: the directory is shared, not listable
        self.channel_dir = DOCKER_CHANNELS
        self.socket_name = f"{token}.sock"
        self._env_vars = {CHANNEL_ENV: f"{DOCKER_CHANNELS_INSIDE}/{self.socket_name}"}
        self._dead = asyncio.Event()
        self._states: dict[str, FileState] = {}

    async def install(self, files: dict[str, tuple[bytes, int]]) -> None:
        await _install(self.env, files)
        await self._refresh(list(files))

    async def run(self, command: str, timeout: float, fresh: bool) -> CommandResult:
        if self._dead.is_set():
            raise MachineDied("the container has stopped")
        argv = (["bash", "--login", "-c", command] if fresh
                else ["bash", "-c", _DOCKER_RUN, "bash", command])
        try:
            result = await self.env.exec(argv, env=self._env_vars, timeout=int(timeout),
                                         timeout_retry=False)
        except TimeoutError:
            return CommandResult("", "", None, f"command timed out after {timeout:g} s", True)
        except Exception:  # the container is gone (or going)
            result = None
        if result is None or (result.returncode in (137, 143) and await self.liveness() == "dead"):
            self._dead.set()
            raise MachineDied("the container has stopped")
        await self._refresh(list(self._states))
        if fresh:
            return CommandResult(result.stdout, result.stderr, result.returncode)
        return CommandResult(result.stdout + result.stderr, "", result.returncode)

    async def liveness(self) -> str:
        if self._dead.is_set():
            return "dead"
        await asyncio.sleep(DOCKER_GRACE_SECONDS)  # let a TERM sent to tini stop the container
        try:
            alive = (await self.env.exec(["true"], timeout=30, timeout_retry=False)).success
        except Exception:
            alive = False
        if not alive:
            self._dead.set()
        return "alive" if alive else "dead"

    async def died(self) -> object:
        return await self._dead.wait()

    def bounds_hit(self) -> list[str]:
        return []  # Docker enforces mem_limit and pids_limit; it does not report hits here

    async def _refresh(self, paths: list[str]) -> None:
        """Read file states as root (the agent may have made them unreadable to itself)."""
        if not paths:
            return
        result = await self.env.exec(["sh", "-c", _DOCKER_STAT, "sh", *paths], user="root",
                                     timeout=30)
        lines = result.stdout.split("\n\n") if result.success else []
        for path, line in zip(paths, lines + [""] * len(paths)):
            self._states[path] = parse_stat(line.strip())

    def file_state(self, path: str) -> FileState:
        return self._states.get(path, FileState(unavailable="not read"))

    def death(self) -> dict:
        return {"signal": None, "sender_pid": None, "cause": "the container stopped"}

    async def close(self) -> None:
        pass  # the socket file is removed by the question service's server


def parse_stat(line: str) -> FileState:
    """`stat -c '%F|%a|%s'`, readlink and sha256sum output -> a FileState."""
    if not line or line == "missing":
        return FileState(exists=False) if line == "missing" else FileState(unavailable="no output")
    fields = line.split("\t")
    kind, mode, size = (fields[0].split("|") + ["", "", "0"])[:3]
    names = {"regular file": "file", "regular empty file": "file", "directory": "directory",
             "symbolic link": "symlink", "fifo": "fifo", "socket": "socket"}
    state = FileState(exists=True, mode=f"{int(mode or '0', 8):04o}",
                      type=names.get(kind, "other"), size=int(size or 0))
    if state.type == "file" and len(fields) > 2 and fields[2]:
        state.sha256 = fields[2]
    if state.type == "symlink":
        state.target = fields[1] if len(fields) > 1 else ""
    return state


async def _install(env: SandboxEnvironment, files: dict[str, tuple[bytes, int]]) -> None:
    """Write each file with its mode, one exec per file, as the machine's user."""
    for path, (content, mode) in files.items():
        result = await env.exec(["sh", "-c", 'cat > "$1" && chmod "$2" "$1"', "sh", path,
                                 f"{mode:o}"], input=content)
        if not result.success:
            raise RuntimeError(f"machine set-up failed: {result.stderr.strip()}")


def _expected_state(content: bytes, mode: int) -> FileState:
    return FileState(exists=True, mode=f"{mode:04o}", type="file", size=len(content),
                     sha256=sha256(content).hexdigest())


def terminal_for(env: SandboxEnvironment) -> Terminal:
    try:
        return BwrapTerminal(env.as_type(BwrapSandbox))
    except TypeError:
        pass
    from inspect_ai.util._sandbox.docker.docker import DockerSandboxEnvironment

    try:
        return DockerTerminal(env.as_type(DockerSandboxEnvironment))
    except TypeError:
        raise RuntimeError("the shutdown environment runs on the bwrap or docker sandbox, "
                           f"not {type(env).__name__}") from None


def file_state(path: Path) -> FileState:
    """What a file in the machine looks like from the host.

    Race-free against an agent that swaps the file meanwhile: the path is opened once,
    without following a link (O_NOFOLLOW; O_NONBLOCK so a fifo cannot block), and
    everything is read from that one open file. What cannot be opened for reading (a
    symlink, a socket, a file the host may not read) is opened as O_PATH instead and
    described from that. Nothing here raises. Content is hashed up to 1 MiB, every time:
    a cache keyed on inode metadata could miss a same-size rewrite within one clock tick.
    """
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | flags)
        readable = True
    except FileNotFoundError:
        return FileState(exists=False)
    except OSError:  # ELOOP (a symlink), ENXIO (a socket), EACCES: look without reading
        try:
            fd = os.open(path, os.O_PATH | flags)
        except FileNotFoundError:
            return FileState(exists=False)
        except OSError as ex:
            return FileState(unavailable=ex.strerror or str(ex))
        readable = False
    try:
        st = os.fstat(fd)
        state = FileState(exists=True, mode=f"{stat.S_IMODE(st.st_mode):04o}",
                          type=_kind(st.st_mode), size=st.st_size)
        if stat.S_ISREG(st.st_mode) and st.st_size <= _HASH_LIMIT:
            if not readable:
                state.unreadable = "permission denied"
            else:
                try:
                    data = os.read(fd, _HASH_LIMIT + 1)
                    while len(data) <= _HASH_LIMIT and (more := os.read(fd, _HASH_LIMIT + 1 - len(data))):
                        data += more
                    if len(data) > _HASH_LIMIT:
                        state.unreadable = "grew past 1 MiB while read"
                    else:
                        state.sha256 = sha256(data).hexdigest()
                except OSError as ex:
                    state.unreadable = ex.strerror or str(ex)
        elif stat.S_ISLNK(st.st_mode):
            try:
                state.target = os.readlink("", dir_fd=fd)
            except OSError as ex:
                state.unreadable = ex.strerror or str(ex)
        return state
    except OSError as ex:
        return FileState(unavailable=ex.strerror or str(ex))
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "other"
