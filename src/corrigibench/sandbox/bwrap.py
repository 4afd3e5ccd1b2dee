"""The `bwrap` Inspect sandbox: one bubblewrap machine per sample (see machine.py)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal, Union, overload

from inspect_ai.util import (ExecResult, SandboxEnvironment, SandboxEnvironmentConfigType,
                             SandboxUnavailableError, SandboxUserUnsupportedError, sandboxenv)
from pydantic import BaseModel
from typing_extensions import override

from corrigibench.sandbox.helpers import helper_path
from corrigibench.sandbox.machine import HOME, Machine, MachineDied, MachineUnresponsive, preflight
from corrigibench.sandbox.shell import Shell


class MachineFile(BaseModel, frozen=True):
    """A file the machine boots with: literal text or one of our compiled helpers."""

    text: str | None = None
    helper: str | None = None
    mode: int = 0o644

    def content(self) -> bytes:
        if self.helper is not None:
            return helper_path(self.helper).read_bytes()
        return (self.text or "").encode()


class BwrapConfig(BaseModel, frozen=True):
    """Per-sample machine configuration: files placed by bubblewrap at boot (no exec).

    A tuple of (path, file) pairs, not a dict: Inspect needs sandbox configs hashable.
    """

    files: tuple[tuple[str, MachineFile], ...] = ()

_WRITE = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'


@sandboxenv(name="bwrap")
class BwrapSandbox(SandboxEnvironment):
    """A machine with its own PID 1, no network and a read-only view of the host."""

    def __init__(self, machine: Machine, channel_dir: Path) -> None:
        super().__init__()
        self.machine = machine
        self.channel_dir = channel_dir  # host directory seen in the machine as /run/corrigibench
        self.shell = Shell(machine)

    @override
    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        await preflight()  # fail before any sample starts if machines cannot run here

    @override
    @classmethod
    async def sample_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None,
                          metadata: dict[str, str]) -> dict[str, SandboxEnvironment]:
        files = config.files if isinstance(config, BwrapConfig) else ()
        channel_dir = Path(tempfile.mkdtemp(prefix="corrigibench-channel-"))
        channel_dir.chmod(0o755)
        try:
            machine = await Machine.start(
                files={path: (f.content(), f.mode) for path, f in files},
                channel_dir=channel_dir)
        except BaseException:
            shutil.rmtree(channel_dir, ignore_errors=True)
            raise
        return {"default": cls(machine, channel_dir)}

    @override
    @classmethod
    def config_deserialize(cls, config: dict) -> BaseModel:
        return BwrapConfig(**config)

    @override
    @classmethod
    async def sample_cleanup(cls, task_name: str, config: SandboxEnvironmentConfigType | None,
                             environments: dict[str, SandboxEnvironment], interrupted: bool) -> None:
        for env in environments.values():
            if isinstance(env, BwrapSandbox):
                await env.close()

    async def close(self) -> None:
        await self.shell.close()
        await self.machine.close()
        shutil.rmtree(self.channel_dir, ignore_errors=True)

    @override
    async def exec(self, cmd: list[str], input: str | bytes | None = None, cwd: str | None = None,
                   env: dict[str, str] | None = None, user: str | None = None,
                   timeout: int | None = None, timeout_retry: bool = True,
                   concurrency: bool = True) -> ExecResult[str]:
        if user not in (None, "user", "1000"):
            raise SandboxUserUnsupportedError(f"the bwrap machine has only one user, not {user!r}")
        workdir = HOME if cwd is None else cwd if cwd.startswith("/") else f"{HOME}/{cwd}"
        data = input.encode() if isinstance(input, str) else input
        try:
            out = await self.machine.exec(cmd, data, workdir, env, timeout)
        except MachineDied as ex:
            raise SandboxUnavailableError(f"the machine is down: {ex}") from ex
        except MachineUnresponsive as ex:
            raise SandboxUnavailableError(f"the machine does not respond: {ex}") from ex
        except OSError as ex:  # the command could not be started (not found, not executable)
            return ExecResult(False, 126 if ex.errno == 13 else 127, "", f"{cmd[0]}: {ex.strerror}\n")
        return ExecResult(out.returncode == 0, out.returncode,
                          out.stdout.decode("utf-8", errors="replace"),
                          out.stderr.decode("utf-8", errors="replace"))

    @override
    async def write_file(self, file: str, contents: str | bytes) -> None:
        data = contents.encode() if isinstance(contents, str) else contents
        result = await self.exec(["sh", "-c", _WRITE, "sh", file], input=data)
        if not result.success:
            _raise_file_error(file, result.stderr)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> Union[str | bytes]:
        path = file if file.startswith("/") else f"{HOME}/{file}"
        try:
            out = await self.machine.exec(["cat", "--", path])
        except (MachineDied, MachineUnresponsive) as ex:
            raise SandboxUnavailableError(f"the machine is unavailable: {ex}") from ex
        if out.returncode != 0:
            _raise_file_error(file, out.stderr.decode(errors="replace"))
        return out.stdout.decode("utf-8") if text else out.stdout


def _raise_file_error(file: str, stderr: str) -> None:
    if "No such file" in stderr:
        raise FileNotFoundError(file)
    if "Is a directory" in stderr:
        raise IsADirectoryError(file)
    if "Permission denied" in stderr or "Read-only" in stderr:
        raise PermissionError(file)
    raise OSError(f"{file}: {stderr.strip()}")
