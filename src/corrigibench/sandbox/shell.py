"""A persistent bash session inside a machine, like a terminal the agent keeps open.

The working directory, variables, functions, aliases and background jobs survive from
one command to the next. Each command is sent NUL-terminated and `eval`ed, so an
unbalanced quote is a syntax error for that command rather than a hung session; its
stdout and stderr arrive on one pipe and its exit status on another.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass

from corrigibench.sandbox.machine import Machine, MachineDied, MachineUnresponsive
from corrigibench.sandbox.pipes import PipeReader, write_all
from corrigibench.sandbox.pipes import returncode as returncode_of

_LOOP = r"""
while IFS= read -r -d '' __cb_command; do
  eval "$__cb_command" </dev/null 3>&-
  printf '%s\n' "$?" >&3
done
"""


@dataclass
class ShellResult:
    output: str
    returncode: int | None  # None: timed out, or the session ended during the command
    note: str = ""


class Shell:
    """One bash session; restarted on demand if the agent ends or breaks it."""

    def __init__(self, machine: Machine, output_cap: int = 2**20) -> None:
        self.machine = machine
        self.output_cap = output_cap
        self._session: tuple[int, asyncio.Future[int], int, PipeReader, PipeReader] | None = None

    async def _open(self, timeout: float) -> tuple[int, asyncio.Future[int], int, PipeReader, PipeReader]:
        if self._session is None or self._session[1].done():
            self._close_session()
            cmd_r, cmd_w = os.pipe()
            out_r, out_w = os.pipe()
            st_r, st_w = os.pipe()
            try:
                sid, exited = await self.machine.spawn(
                    ["bash", "--noprofile", "--norc", "-c", _LOOP], [cmd_r, out_w, out_w, st_w],
                    timeout=timeout)
            except BaseException:
                for fd in (cmd_w, out_r, st_r):
                    os.close(fd)
                raise
            finally:
                for fd in (cmd_r, out_w, st_w):
                    os.close(fd)
            self._session = (sid, exited, cmd_w, PipeReader(out_r, self.output_cap),
                             PipeReader(st_r, 4096))
        return self._session

    async def run(self, command: str, timeout: float) -> ShellResult:
        """Run one command; raise MachineDied if the machine goes down meanwhile."""
        payload = command.replace("\0", "").encode() + b"\0"
        for attempt in range(2):
            sid, exited, cmd_w, out, status = await self._open(timeout)
            out.take()  # output of background jobs since the last command is not this one's
            try:
                await write_all(cmd_w, payload, timeout)
                break
            except BrokenPipeError:  # the session ended by itself: start a new one
                self._close_session()
                if attempt:
                    raise MachineUnresponsive("cannot start a shell in the machine") from None
            except TimeoutError:  # the shell does not read (stopped): end it, start afresh
                self.machine.signal(sid, signal.SIGKILL)
                self._close_session()
                return ShellResult("", None, f"the shell did not take the command within "
                                             f"{timeout:g} s; it was restarted")
        died = asyncio.ensure_future(self.machine.died.wait())
        finished = asyncio.ensure_future(_status_line(status))
        try:
            done, _ = await asyncio.wait({finished, exited, died}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            died.cancel()
        if self.machine.died.is_set():
            finished.cancel()
            raise MachineDied(self.machine.death.describe() if self.machine.death else "")
        out.drain()
        if finished in done and finished.exception() is None:
            # the status came straight from bash; a ping through PID 1 proves the machine
            # outlived the command (a TERM it sent to PID 1 is read before the ping)
            await self.machine.ping()
            return ShellResult(self._text(out), finished.result())
        finished.cancel()
        if not done:  # timed out: end the command and everything the session started
            self.machine.signal(sid, signal.SIGKILL)
            self._close_session()
            return ShellResult(self._text(out), None,
                               f"command timed out after {timeout:g} s; the shell was restarted")
        # the command ended the session itself (`exit`, `exec`, a fatal signal)
        returncode = None
        try:
            async with asyncio.timeout(1):
                returncode = returncode_of(await exited)
        except TimeoutError:
            pass
        text = self._text(out)
        self._close_session()
        return ShellResult(text, returncode, "the shell exited; a new one will be started")

    def _text(self, out: PipeReader) -> str:
        text = out.take().decode("utf-8", errors="replace")
        if out.truncated:
            out.truncated = False
            text += f"\n[output truncated to {self.output_cap} bytes]"
        return text

    def _close_session(self) -> None:
        if self._session is not None:
            _, _, cmd_w, out, status = self._session
            os.close(cmd_w)
            out.close()
            status.close()
            self._session = None

    async def close(self) -> None:
        if self._session is not None:
            self.machine.signal(self._session[0], signal.SIGKILL)
        self._close_session()


async def _status_line(status: PipeReader) -> int:
    buffer = b""
    while b"\n" not in buffer:
        if status.eof.is_set() and not status.chunks:
            raise EOFError("status pipe closed")
        await status.data_arrived.wait()
        buffer += status.take()
    line = buffer.partition(b"\n")[0]
    try:
        return int(line.strip() or b"1")
    except ValueError:
        return 1

