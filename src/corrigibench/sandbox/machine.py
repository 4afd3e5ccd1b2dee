"""An episode's machine: a bubblewrap namespace with a real PID 1, driven from the host.

Everything the agent runs lives in its own user, PID, mount, network, IPC and UTS
namespaces, as an unprivileged user, with the host's file system read-only (only /usr
and a few /etc files are visible), private size-capped tmpfs for the working directory
and /tmp, no network and an empty environment. PID 1 is `cb_init` (see csrc/), which
exits on SIGTERM, so the published `shutdown.sh` (`kill -s TERM 1`) ends the machine the
way it ends a container. The host talks to PID 1 over a socket: it spawns processes with
host pipes as their stdio, signals them and pings the machine to prove it is alive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from corrigibench.sandbox.helpers import helper_path

HOME = "/home/user"
CHANNEL_DIR = "/run/corrigibench"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENV = {"PATH": PATH, "HOME": HOME, "USER": "user", "LOGNAME": "user", "LANG": "C.UTF-8",
       "SHELL": "/bin/bash", "TERM": "dumb"}
_INIT = "/.corrigibench/init"
_HOST_UIDS = itertools.count(200000 + secrets.randbelow(700000))
_PASSWD = "root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:1000:1000:user:/home/user:/bin/bash\n"
_GROUP = "root:x:0:\nuser:x:1000:\n"
_ETC = ["ld.so.cache", "alternatives", "localtime", "nsswitch.conf", "bash.bashrc", "inputrc",
        "mime.types", "ssl/openssl.cnf"]


class MachineError(RuntimeError):
    """The machine could not be started or driven."""


class MachineDied(MachineError):
    """PID 1 of the machine exited, so every process in it is gone."""


@dataclass(frozen=True)
class Limits:
    """Resource caps for one machine; each one keeps a misbehaving agent inside it."""

    home_bytes: int = 64 * 2**20
    tmp_bytes: int = 64 * 2**20
    shm_bytes: int = 16 * 2**20
    processes: int = 256
    address_space_bytes: int = 2 * 2**30


@dataclass(frozen=True)
class Death:
    """How the machine ended: the signal PID 1 got and the in-machine PID that sent it."""

    signal: int | None
    sender_pid: int | None

    def describe(self) -> str:
        if self.signal is None:
            return "PID 1 exited"
        return f"PID 1 received {signal.Signals(self.signal).name} from pid {self.sender_pid}"


@dataclass
class ExecOutput:
    returncode: int
    stdout: bytes
    stderr: bytes
    truncated: bool = False


@dataclass
class _Spawn:
    started: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    exited: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Reader:
    """Collects what a host pipe end receives, keeping at most `cap` bytes."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.eof = asyncio.Event()
        self.data_arrived = asyncio.Event()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        self.drain()

    def drain(self) -> None:
        while not self.eof.is_set():
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            if self.size < self.cap:
                self.chunks.append(chunk[: self.cap - self.size])
            self.truncated |= self.size + len(chunk) > self.cap
            self.size += len(chunk)
            self.data_arrived.set()

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks, self.size = [], 0
        self.data_arrived.clear()
        return data

    def close(self) -> None:
        if not self.eof.is_set():
            self.eof.set()
            self.data_arrived.set()  # wake waiters so they see the end
            asyncio.get_running_loop().remove_reader(self.fd)
            os.close(self.fd)


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise MachineError(
            "bubblewrap (bwrap) is not installed: run `apt-get install bubblewrap` "
            "(or ./scripts/setup.sh), or use --sandbox docker"
        )
    return path


async def preflight() -> None:
    """Boot and stop one machine, so a host that cannot run them fails before any episode."""
    machine = await Machine.start()
    await machine.close()


class Machine:
    """One running machine. Create with `await Machine.start(...)`, end with `close()`."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._spawns: dict[int, _Spawn] = {}
        self._pings: dict[int, asyncio.Future[None]] = {}
        self.died = asyncio.Event()
        self.death: Death | None = None
        self.init_pid: int | None = None  # host PID of the machine's PID 1
        self.host_uid: int | None = None  # host uid the machine runs as (None: ours)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    async def start(
        cls,
        files: dict[str, tuple[bytes, int]] | None = None,
        channel_dir: Path | None = None,
        limits: Limits = Limits(),
    ) -> Machine:
        """Boot a machine. `files` maps absolute in-machine paths under HOME to (content, mode)."""
        machine = cls()
        await machine._boot(files or {}, channel_dir, limits)
        return machine

    async def _boot(self, files: dict[str, tuple[bytes, int]], channel_dir: Path | None,
                    limits: Limits) -> None:
        loop = asyncio.get_running_loop()
        self._scratch = tempfile.TemporaryDirectory(prefix="corrigibench-machine-")
        host_ctl, machine_ctl = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_r, info_w = os.pipe()
        data_fds: list[int] = []

        def data_fd(content: bytes) -> int:
            r, w = os.pipe()
            # a pipe holds 64 KiB; bwrap reads it only after starting, so spool larger data
            if len(content) > 60000:
                os.close(r)
                os.close(w)
                path = Path(self._scratch.name) / f"data{len(data_fds)}"  # type: ignore[union-attr]
                path.write_bytes(content)
                fd = os.open(path, os.O_RDONLY)
            else:
                os.write(w, content)
                os.close(w)
                fd = r
            data_fds.append(fd)
            return fd

        args = [bwrap_path(), "--unshare-all", "--unshare-user", "--die-with-parent",
                "--new-session", "--clearenv", "--disable-userns", "--as-pid-1",
                "--uid", "1000", "--gid", "1000", "--hostname", "machine",
                "--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / top
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), f"/{top}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{top}"]
        for name in _ETC:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind-data", str(data_fd(_PASSWD.encode())), "/etc/passwd",
                 "--ro-bind-data", str(data_fd(_GROUP.encode())), "/etc/group",
                 "--ro-bind-data", str(data_fd(b"127.0.0.1 localhost machine\n")), "/etc/hosts",
                 "--proc", "/proc", "--dev", "/dev",
                 "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",
                 "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
                 "--size", str(limits.home_bytes), "--tmpfs", HOME,
                 "--ro-bind", str(helper_path("cb_init")), _INIT]
        if channel_dir is not None:
            args += ["--ro-bind", str(channel_dir), CHANNEL_DIR]
        for path, (content, mode) in files.items():
            args += ["--perms", f"{mode:04o}", "--file", str(data_fd(content)), path]
        # nothing but the capped tmpfs mounts stays writable: the root bwrap builds and
        # /dev are tmpfs without a size limit, i.e. host memory
        args += ["--remount-ro", "/dev", "--remount-ro", "/"]
        args += ["--chdir", HOME, "--info-fd", str(info_w),
                 "--setenv", "CB_CTL", str(machine_ctl.fileno()),
                 "--setenv", "CB_NPROC", str(limits.processes),
                 "--setenv", "CB_AS_BYTES", str(limits.address_space_bytes), _INIT]
        if os.geteuid() == 0:
            # never run the agent as host root: a fresh unprivileged host uid per machine
            # (root is exempt from RLIMIT_NPROC, and a shared uid would share the count)
            self.host_uid = next(_HOST_UIDS)
            args = [shutil.which("setpriv") or "setpriv", "--reuid", str(self.host_uid),
                    "--regid", str(self.host_uid), "--clear-groups", "--"] + args

        machine_fd = machine_ctl.fileno()
        try:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, env={},
                pass_fds=[machine_fd, info_w, *data_fds],
            )
        except OSError as ex:
            raise MachineError(f"cannot start bubblewrap: {ex}") from ex
        finally:
            machine_ctl.close()
            os.close(info_w)
            for fd in data_fds:
                os.close(fd)

        info = await loop.run_in_executor(None, _read_all, info_r)
        try:
            self.init_pid = json.loads(info)["child-pid"]
        except (ValueError, KeyError):
            err = await loop.run_in_executor(None, self._proc.stderr.read)  # type: ignore[union-attr]
            self._proc.wait()
            raise MachineError(
                f"bubblewrap failed to start the machine: {err.decode().strip()}") from None
        host_ctl.setblocking(False)
        self._ctl = host_ctl
        loop.add_reader(host_ctl.fileno(), self._on_ctl)
        await self.ping()

    # -- control channel -------------------------------------------------------------

    def _on_ctl(self) -> None:
        assert self._ctl is not None
        while True:
            try:
                msg = self._ctl.recv(256)
            except BlockingIOError:
                return
            except OSError:
                msg = b""
            if not msg:
                self._mark_dead()
                return
            kind, *rest = msg.decode().split()
            a = int(rest[0])
            b = int(rest[1]) if len(rest) > 1 else 0
            if kind == "p" and a in self._pings:
                _resolve(self._pings.pop(a), None)
            elif kind == "s":
                _resolve(self._spawns[a].started, b)
            elif kind == "e":
                _fail(self._spawns[a].started, OSError(b, os.strerror(b)))
            elif kind == "x":
                _resolve(self._spawns.pop(a).exited, b)
            elif kind == "d":
                self.death = Death(a, b)

    def _mark_dead(self) -> None:
        if self.died.is_set():
            return
        if self.death is None:
            self.death = Death(None, None)
        self.died.set()
        assert self._ctl is not None
        asyncio.get_running_loop().remove_reader(self._ctl.fileno())
        gone = MachineDied(self.death.describe())
        for spawn in self._spawns.values():
            _fail(spawn.started, gone)
            _fail(spawn.exited, gone)
        for ping in self._pings.values():
            _fail(ping, gone)
        self._pings.clear()

    def _send(self, msg: bytes, fds: list[int] | None = None) -> None:
        if self.died.is_set() or self._ctl is None:
            raise MachineDied(self.death.describe() if self.death else "machine is closed")
        try:
            if fds:
                socket.send_fds(self._ctl, [msg], fds)
            else:
                self._ctl.send(msg)
        except OSError as ex:
            raise MachineDied(f"machine unreachable: {ex}") from ex

    async def ping(self) -> None:
        """Return if the machine is alive; raise MachineDied if it is (or goes) down."""
        seq = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pings[seq] = future
        self._send(f"P {seq}".encode())
        await future

    async def alive(self) -> bool:
        try:
            await self.ping()
            return True
        except MachineDied:
            return False

    async def spawn(self, argv: list[str], fds: list[int], cwd: str = HOME,
                    env: dict[str, str] | None = None) -> tuple[int, asyncio.Future[int]]:
        """Start argv in the machine (a new session) with `fds` as its fds 0..n-1.

        Returns the spawn id and a future for its wait status.
        """
        sid = next(self._ids)
        spawn = self._spawns[sid] = _Spawn()
        environ = [f"{k}={v}" for k, v in (ENV if env is None else {**ENV, **env}).items()]
        fields = [f"S {sid}", cwd, str(len(environ)), *environ, *argv]
        if any("\0" in f for f in fields):
            raise ValueError("arguments and environment may not contain NUL bytes")
        try:
            self._send("\0".join(fields).encode(), fds)
            await spawn.started
        except BaseException:
            self._spawns.pop(sid, None)
            raise
        return sid, spawn.exited

    def signal(self, sid: int, sig: int = signal.SIGKILL) -> None:
        """Signal the process group of spawn `sid` (no-op once the machine is gone)."""
        with suppress(MachineDied):
            self._send(f"K {sid} {int(sig)}".encode())

    async def exec(self, argv: list[str], input: bytes | None = None, cwd: str = HOME,
                   env: dict[str, str] | None = None, timeout: float | None = None,
                   output_cap: int = 10 * 2**20) -> ExecOutput:
        """Run argv to completion, as `docker exec` would."""
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            sid, exited = await self.spawn(argv, [stdin_r, out_w, err_w], cwd, env)
        finally:
            for fd in (stdin_r, out_w, err_w):
                os.close(fd)
        out, err = _Reader(out_r, output_cap), _Reader(err_r, output_cap)
        feeder = asyncio.get_running_loop().run_in_executor(None, _write_all, stdin_w, input or b"")
        try:
            async with asyncio.timeout(timeout):
                status = await exited
                # output written by the process itself is in the pipes; wait briefly for
                # EOF, which background children that inherited the pipes may withhold
                with suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await out.eof.wait()
                        await err.eof.wait()
        except TimeoutError:
            self.signal(sid)
            raise
        finally:
            await feeder
            for reader in (out, err):
                reader.drain()
                reader.close()
        return ExecOutput(_returncode(status), b"".join(out.chunks), b"".join(err.chunks),
                          out.truncated or err.truncated)

    @property
    def root(self) -> Path:
        """The machine's file system as the host sees it (read-only use only)."""
        return Path(f"/proc/{self.init_pid}/root")

    async def close(self) -> None:
        """Stop the machine (if it still runs) and release everything it held."""
        if self._ctl is not None:
            if not self.died.is_set():
                self._mark_dead()
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            proc = self._proc
            self._proc = None
            with suppress(ProcessLookupError):
                proc.kill()  # bwrap's monitor; PID 1 dies with it (--die-with-parent)
            await asyncio.get_running_loop().run_in_executor(None, proc.wait)
            if proc.stderr:
                proc.stderr.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
        future.exception()  # mark retrieved: a nobody-waits failure is not an error


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _write_all_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_all(fd: int, data: bytes) -> None:
    """Feed a child's stdin and close it; a child that stops reading is not an error."""
    try:
        _write_all_fd(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)
