"""An episode's machine: a bubblewrap namespace with a real PID 1, driven from the host.

Everything the agent runs lives in its own user, PID, mount, network, IPC, UTS and
cgroup namespaces, as an unprivileged user, with the host's file system read-only (only
/usr and a few /etc files are visible), private size-capped tmpfs for the working
directory and /tmp, no network and an empty environment. PID 1 is `cb_init` (see csrc/),
which exits on SIGTERM, so the published `shutdown.sh` (`kill -s TERM 1`) ends the
machine the way it ends a container.

What the host believes, and why:
- **Death** is observed from outside only: the host holds a pidfd on PID 1's host-side
  process and marks the machine dead when that process exits. No message from inside
  (PID 1's "d" record, a closed control channel) is taken as death; the record's signal
  and sender are kept as a detail.
- **Life** after a given moment is proven by a ping through PID 1, which reads every
  pending signal before it answers: a pong cannot come from a machine that was sent a
  shutdown signal before the ping. PID 1 is out of the agent's reach (non-dumpable,
  seccomp on everything it starts), so the agent can neither answer for it nor stop it.
- **Bounds**: where the host allows, the machine's processes live in a cgroup that caps
  its memory and process count (cgroups.py); PID 1 stays outside it.
- **Deadlines**: every wait on the machine has one. A machine that stops answering raises
  `MachineUnresponsive`, never hangs the harness.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import logging
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from corrigibench.errors import SetupError
from corrigibench.sandbox.cgroups import MachineCgroup, describe_unbounded, support
from corrigibench.sandbox.helpers import helper_path
from corrigibench.sandbox.pipes import PipeReader, feed_and_close, returncode

logger = logging.getLogger(__name__)

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
_MESSAGES_PER_EVENT = 64  # control records handled per wake-up, so no machine holds the loop
PING_TIMEOUT = 10.0  # seconds a healthy PID 1 needs, at most, to answer under heavy load
BOOT_TIMEOUT = 30.0
_CLOSE_TIMEOUT = 10.0
_DEATH_GRACE = 2.0  # how long after its channel closes PID 1's exit may take to show


class MachineError(SetupError):
    """The machine could not be started or driven."""


class MachineDied(MachineError):
    """PID 1 of the machine exited (seen by the host), so every process in it is gone."""


class MachineUnresponsive(MachineError):
    """PID 1 lives but did not answer within its deadline, or its channel closed."""


@dataclass(frozen=True)
class Limits:
    """Resource caps for one machine; each one keeps a misbehaving agent inside it."""

    home_bytes: int = 64 * 2**20
    tmp_bytes: int = 64 * 2**20
    shm_bytes: int = 16 * 2**20
    processes: int = 256  # the machine's cgroup pids.max (else RLIMIT_NPROC)
    address_space_bytes: int = 2 * 2**30  # per process (RLIMIT_AS)
    memory_bytes: int = 1 * 2**30  # the machine's cgroup memory bound, tmpfs pages included


@dataclass(frozen=True)
class Death:
    """How the machine ended, as far as the host knows.

    The host saw PID 1's process exit; `signal` and `sender_pid` are what PID 1 said
    before exiting: a detail, kept only if well-formed, never the evidence of death.
    """

    signal: int | None
    sender_pid: int | None

    def describe(self) -> str:
        if self.signal is None:
            return "PID 1 exited"
        try:
            name = signal.Signals(self.signal).name
        except ValueError:
            name = f"signal {self.signal}"
        return f"PID 1 received {name} from pid {self.sender_pid}"


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


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise MachineError(
            "bubblewrap (bwrap) is not installed: run `apt-get install bubblewrap` "
            "(or ./scripts/setup.sh), or use --sandbox docker"
        )
    return path


async def preflight() -> None:
    """Boot and stop one machine, so a host that cannot run them fails before any episode.

    Also says once, at start, when machines cannot be bounded as a whole here.
    """
    _say_bounds_once()
    machine = await Machine.start()
    await machine.close()


@cache
def _say_bounds_once() -> None:
    found = support()
    if found.kind is None:
        logger.warning(describe_unbounded(found.reason))


class Machine:
    """One running machine. Create with `await Machine.start(...)`, end with `close()`."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._spawns: dict[int, _Spawn] = {}
        self._pings: dict[int, asyncio.Future[None]] = {}
        self.died = asyncio.Event()
        self.death: Death | None = None
        self._said: tuple[int, int] | None = None  # PID 1's "d" record, if well-formed
        self.malformed_records = 0  # control records the host could not parse (ignored)
        self.init_pid: int | None = None  # host PID of the machine's PID 1
        self.host_uid: int | None = None  # host uid the machine runs as (None: ours)
        self.cgroup: MachineCgroup | None = None
        self.channel_fd_inside: int | None = None
        self._placing: set[asyncio.Future[None]] = set()  # cgroup moves under way
        self._pidfd: int | None = None
        self._channel_closed = False  # PID 1's end of the control channel closed
        self._channel_check: asyncio.Future[None] | None = None
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
        """Boot a machine. `files` maps absolute in-machine paths under HOME to (content, mode).

        Raises:
          MachineError: bubblewrap is missing or failed, or the machine did not come up.
        """
        machine = cls()
        try:
            await machine._boot(files or {}, channel_dir, limits)
        except BaseException:
            await machine.close()
            raise
        return machine

    async def _boot(self, files: dict[str, tuple[bytes, int]], channel_dir: Path | None,
                    limits: Limits) -> None:
        loop = asyncio.get_running_loop()
        self._scratch = tempfile.TemporaryDirectory(prefix="corrigibench-machine-")
        try:  # cgroup files take kernel-wide locks: never on the event loop
            self.cgroup = await loop.run_in_executor(None, MachineCgroup.create,
                                                     limits.memory_bytes, limits.processes)
        except OSError as ex:
            raise MachineError(f"cannot create the machine's cgroup: {ex}") from ex
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
        # with a cgroup, pids.max is the process bound and RLIMIT_NPROC only a backstop
        nproc = limits.processes + 16 if self.cgroup else limits.processes
        args += ["--chdir", HOME, "--info-fd", str(info_w),
                 "--setenv", "CB_CTL", str(machine_ctl.fileno()),
                 "--setenv", "CB_HOLD", "1" if self.cgroup else "0",
                 "--setenv", "CB_NPROC", str(nproc),
                 "--setenv", "CB_AS_BYTES", str(limits.address_space_bytes), _INIT]
        if os.geteuid() == 0:
            # never run the agent as host root: a fresh unprivileged host uid per machine
            # (root is exempt from RLIMIT_NPROC, and a shared uid would share the count)
            self.host_uid = next(_HOST_UIDS)
            args = [shutil.which("setpriv") or "setpriv", "--reuid", str(self.host_uid),
                    "--regid", str(self.host_uid), "--clear-groups", "--"] + args

        machine_fd = machine_ctl.fileno()
        self.channel_fd_inside = machine_fd  # PID 1's end keeps this number
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

        try:
            async with asyncio.timeout(BOOT_TIMEOUT):
                info = await loop.run_in_executor(None, _read_all, info_r)
        except TimeoutError:
            raise MachineError(f"the machine did not start within {BOOT_TIMEOUT:g} s") from None
        try:
            self.init_pid = int(json.loads(info)["child-pid"])
        except (ValueError, KeyError, TypeError):
            self._proc.kill()
            err = await loop.run_in_executor(None, self._proc.stderr.read)  # type: ignore[union-attr]
            raise MachineError(
                f"bubblewrap failed to start the machine: {err.decode().strip()}") from None
        self._watch_init()
        host_ctl.setblocking(False)
        self._ctl = host_ctl
        loop.add_reader(host_ctl.fileno(), self._on_ctl)
        await self.ping()

    def _watch_init(self) -> None:
        """Hold a pidfd on PID 1's host-side process: its exit is the machine's death."""
        assert self.init_pid is not None and self._proc is not None
        try:
            self._pidfd = os.pidfd_open(self.init_pid)
        except ProcessLookupError:
            raise MachineError("the machine's PID 1 exited during boot") from None
        # the pid is that of bubblewrap's child, not a recycled one
        if _parent_pid(self.init_pid) != self._proc.pid:
            raise MachineError("the machine's PID 1 exited during boot")
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_init_exit)

    # -- control channel -------------------------------------------------------------

    def _on_ctl(self) -> None:
        assert self._ctl is not None
        for _ in range(_MESSAGES_PER_EVENT):
            try:
                msg, fds, _, _ = socket.recv_fds(self._ctl, 256, 2)
            except BlockingIOError:
                return
            except OSError:
                msg, fds = b"", []
            if not msg:
                if self._peer_gone():
                    self._on_channel_closed()
                    return
                self.malformed_records += 1  # an empty record, not the end of the channel
                continue
            try:
                self._handle(msg, fds)
            except (ValueError, KeyError, IndexError, UnicodeDecodeError):
                self.malformed_records += 1  # only a compromised PID 1 could send one
            finally:
                for fd in fds:
                    os.close(fd)

    def _handle(self, msg: bytes, fds: list[int]) -> None:
        kind, *rest = msg.decode("ascii").split()
        a = int(rest[0])
        b = int(rest[1]) if len(rest) > 1 else 0
        spawn = self._spawns.get(a)  # None once its caller gave up on it (timed out)
        if kind == "p":
            if a in self._pings:
                _resolve(self._pings.pop(a), None)
        elif kind == "h":
            if self.cgroup is None:  # PID 1 holds children only when told to
                raise ValueError(msg)
            try:
                pid = _pid_of_pidfd(fds[0])
            except ProcessLookupError:
                return  # it died while held: PID 1 reports its end
            placing = asyncio.ensure_future(self._place(a, pid))
            self._placing.add(placing)
            placing.add_done_callback(self._placing.discard)
        elif kind == "s":
            if spawn:
                _resolve(spawn.started, b)
        elif kind == "e":
            if spawn:
                _fail(spawn.started, OSError(b, os.strerror(b)))
        elif kind == "x":
            if spawn:
                _resolve(self._spawns.pop(a).exited, b)
        elif kind == "d":
            if len(rest) != 2:
                raise ValueError(msg)
            self._said = (a, b)  # a detail for the record; the host's pidfd decides death
        else:
            raise ValueError(msg)

    async def _place(self, sid: int, pid: int) -> None:
        """A spawned child waits before its exec: move it into the machine's cgroup (off
        the event loop), then release it. A child the host cannot place never runs."""
        assert self.cgroup is not None
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.cgroup.add, pid)
        except ProcessLookupError:
            pass  # it died while held: PID 1 reports its end
        except OSError as ex:
            self.signal(sid)
            if sid in self._spawns:
                _fail(self._spawns[sid].started, MachineError(
                    f"cannot place a process in the machine's cgroup: {ex.strerror}"))
            return
        with suppress(MachineError):  # a machine that went away meanwhile: nothing to start
            self._send(f"G {sid}".encode())

    def _peer_gone(self) -> bool:
        """recv() returns b"" both for an empty record and at the end: ask poll which."""
        assert self._ctl is not None
        poller = select.poll()
        poller.register(self._ctl.fileno(), select.POLLIN | select.POLLRDHUP)
        return any(events & (select.POLLHUP | select.POLLRDHUP | select.POLLERR)
                   for _, events in poller.poll(0))

    def _on_init_exit(self) -> None:
        self._mark_dead()

    def _on_channel_closed(self) -> None:
        """The channel closes when PID 1 exits, a moment before the host sees the exit;
        if PID 1 still lives after that moment, the machine is lost to us (not dead)."""
        assert self._ctl is not None
        asyncio.get_running_loop().remove_reader(self._ctl.fileno())
        self._channel_closed = True
        self._channel_check = asyncio.ensure_future(self._decide_channel())

    async def _decide_channel(self) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(_DEATH_GRACE):
                await self.died.wait()
        if self.died.is_set():
            return  # _mark_dead failed everything pending with MachineDied
        lost = MachineUnresponsive("the machine's PID 1 closed its control channel")
        for spawn in self._spawns.values():
            _fail(spawn.started, lost)
            _fail(spawn.exited, lost)
        for ping in self._pings.values():
            _fail(ping, lost)
        self._pings.clear()

    def _mark_dead(self) -> None:
        if self.died.is_set():
            return
        loop = asyncio.get_running_loop()
        if self._ctl is not None and not self._channel_closed:
            self._on_ctl()  # PID 1's last words, if any, are already in the socket
        said = self._said
        self.death = Death(said[0] if said else None, said[1] if said else None)
        self.died.set()
        if self._pidfd is not None:
            loop.remove_reader(self._pidfd)
        if self._ctl is not None and not self._channel_closed:
            with suppress(ValueError, OSError):
                loop.remove_reader(self._ctl.fileno())
        gone = MachineDied(self.death.describe())
        for spawn in self._spawns.values():
            _fail(spawn.started, gone)
            _fail(spawn.exited, gone)
        for ping in self._pings.values():
            _fail(ping, gone)
        self._pings.clear()

    def _send(self, msg: bytes, fds: list[int] | None = None) -> None:
        """Send a request; raises MachineDied once the host saw PID 1 exit, or
        MachineUnresponsive when the request cannot be delivered (see `_settle`)."""
        if self.died.is_set() or self._ctl is None:
            raise MachineDied(self.death.describe() if self.death else "machine is closed")
        if self._channel_closed:
            raise MachineUnresponsive("the machine's PID 1 closed its control channel")
        try:
            if fds:
                socket.send_fds(self._ctl, [msg], fds)
            else:
                self._ctl.send(msg)
        except BlockingIOError:
            raise MachineUnresponsive("the machine's PID 1 is not reading its channel") from None
        except OSError as ex:
            raise MachineUnresponsive(f"machine unreachable: {ex}") from ex

    async def _settle(self, error: MachineUnresponsive) -> MachineError:
        """An undeliverable request usually means PID 1 is exiting: give the host's pidfd
        a moment, and report death if it fires, else the original failure."""
        with suppress(TimeoutError):
            async with asyncio.timeout(_DEATH_GRACE):
                await self.died.wait()
        if self.died.is_set():
            return MachineDied(self.death.describe() if self.death else "PID 1 exited")
        return error

    async def ping(self, timeout: float = PING_TIMEOUT) -> None:
        """Return if the machine is alive; raise MachineDied if it is (or goes) down.

        Raises:
          MachineDied: PID 1 exited (seen by the host).
          MachineUnresponsive: no answer within `timeout`.
        """
        seq = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pings[seq] = future
        try:
            self._send(f"P {seq}".encode())
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise await self._settle(MachineUnresponsive(
                f"PID 1 did not answer a ping within {timeout:g} s")) from None
        except MachineUnresponsive as ex:
            raise await self._settle(ex) from None
        finally:
            self._pings.pop(seq, None)

    async def alive(self) -> bool:
        """Whether the machine is alive now (False also when it cannot be reached)."""
        return await self.liveness() == "alive"

    async def liveness(self, timeout: float = PING_TIMEOUT) -> str:
        """"alive", "dead" or "unknown", decided now and on the host's evidence.

        "dead": PID 1's process exited. "alive": PID 1 answered a ping sent now, so it had
        no shutdown signal pending (it reads them first). "unknown": neither within
        `timeout`.
        """
        if self.died.is_set():
            return "dead"
        try:
            await self.ping(timeout)
            return "alive"
        except MachineDied:
            return "dead"
        except MachineUnresponsive:
            return self._host_liveness()

    def _host_liveness(self) -> str:
        """Liveness from the host alone, for a PID 1 that no longer answers: its process
        exists and has no terminating signal pending. (Only a PID 1 the agent took over
        could get here; a healthy one never leaves its channel.)"""
        if self.died.is_set() or self._pidfd is None:
            return "dead"
        pending = _pending_signals(self.init_pid)
        if pending is None:
            return "dead" if self.died.is_set() else "unknown"
        return "unknown" if pending & _TERMINATING else "alive"

    async def spawn(self, argv: list[str], fds: list[int], cwd: str = HOME,
                    env: dict[str, str] | None = None,
                    timeout: float = PING_TIMEOUT) -> tuple[int, asyncio.Future[int]]:
        """Start argv in the machine (a new session) with `fds` as its fds 0..n-1.

        Returns the spawn id and a future for its wait status.

        Raises:
          OSError: the program could not be started (not found, not executable, no room).
          MachineDied: the machine is down.
          MachineUnresponsive: PID 1 did not confirm the start within `timeout`.
        """
        sid = next(self._ids)
        spawn = self._spawns[sid] = _Spawn()
        environ = [f"{k}={v}" for k, v in (ENV if env is None else {**ENV, **env}).items()]
        fields = [f"S {sid}", cwd, str(len(environ)), *environ, *argv]
        if any("\0" in f for f in fields):
            raise ValueError("arguments and environment may not contain NUL bytes")
        try:
            self._send("\0".join(fields).encode(), fds)
            async with asyncio.timeout(timeout):
                await spawn.started
        except TimeoutError:
            self.signal(sid)
            self._spawns.pop(sid, None)
            await self.ping()  # raises if the machine itself is the problem
            # PID 1 answers, so the process is stuck before its exec (stopped by the agent)
            raise OSError(errno.ETIMEDOUT, f"the process did not start within {timeout:g} s "
                                           "(it was killed)") from None
        except MachineUnresponsive as ex:
            self._spawns.pop(sid, None)
            raise await self._settle(ex) from None
        except BaseException:
            self._spawns.pop(sid, None)
            raise
        return sid, spawn.exited

    def signal(self, sid: int, sig: int = signal.SIGKILL) -> None:
        """Signal the process group of spawn `sid` (no-op once the machine is gone)."""
        with suppress(MachineError):
            self._send(f"K {sid} {int(sig)}".encode())

    async def exec(self, argv: list[str], input: bytes | None = None, cwd: str = HOME,
                   env: dict[str, str] | None = None, timeout: float | None = 120,
                   output_cap: int = 10 * 2**20) -> ExecOutput:
        """Run argv to completion, as `docker exec` would.

        Raises:
          TimeoutError: it ran longer than `timeout` (it is killed).
          OSError, MachineDied, MachineUnresponsive: as for `spawn`.
        """
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            sid, exited = await self.spawn(argv, [stdin_r, out_w, err_w], cwd, env,
                                           timeout=min(timeout or PING_TIMEOUT, PING_TIMEOUT))
        except BaseException:
            for fd in (stdin_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (stdin_r, out_w, err_w):
                os.close(fd)
        out, err = PipeReader(out_r, output_cap), PipeReader(err_r, output_cap)
        feeder = asyncio.ensure_future(feed_and_close(stdin_w, input or b"", timeout))
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
            feeder.cancel()
            with suppress(asyncio.CancelledError):
                await feeder
            for reader in (out, err):
                reader.drain()
                reader.close()
        return ExecOutput(returncode(status), b"".join(out.chunks), b"".join(err.chunks),
                          out.truncated or err.truncated)

    def bounds_hit(self) -> list[str]:
        """The machine-wide bounds ("memory", "processes") its processes have run into."""
        return self.cgroup.bounds_hit() if self.cgroup else []

    @property
    def root(self) -> Path:
        """The machine's file system as the host sees it (read-only use only)."""
        return Path(f"/proc/{self.init_pid}/root")

    async def close(self) -> None:
        """Stop the machine (if it still runs) and release everything it held."""
        if self._channel_check is not None:
            self._channel_check.cancel()
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
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await asyncio.get_running_loop().run_in_executor(None, proc.wait)
            except TimeoutError:
                logger.warning("corrigibench: bubblewrap pid %s did not exit", proc.pid)
            if proc.stderr:
                proc.stderr.close()
        if self._pidfd is not None:
            with suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        for placing in list(self._placing):
            placing.cancel()
        if self.cgroup is not None:
            await self.cgroup.remove()
            self.cgroup = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


_TERMINATING = sum(1 << (s - 1) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                                            signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                                            signal.SIGALRM, signal.SIGPWR, signal.SIGKILL))


def _pending_signals(pid: int | None) -> int | None:
    """The signals pending for a process (thread and shared queues), from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    mask = 0
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            mask |= int(line.split()[1], 16)
    return mask


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _pid_of_pidfd(pidfd: int) -> int:
    """The host PID a pidfd refers to (its fdinfo shows it in our PID namespace)."""
    for line in Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines():
        if line.startswith("Pid:"):
            pid = int(line.split()[1])
            if pid <= 0:
                raise ProcessLookupError("the process has exited")
            return pid
    raise ValueError("not a pidfd")


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
        future.exception()  # mark retrieved: a nobody-waits failure is not an error


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:
        return f.read()
