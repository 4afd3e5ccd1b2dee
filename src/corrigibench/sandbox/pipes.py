"""Host ends of the pipes a machine's processes write to and read from.

Every machine shares the harness's one event loop, so nothing here may let one machine
hold that loop: a reader takes at most `PER_EVENT` bytes per wake-up and then yields,
however fast the other end writes, and a writer never blocks (a process that stops
reading its stdin makes the write wait, up to a deadline, not the loop or a thread).
"""

from __future__ import annotations

import asyncio
import os

PER_EVENT = 256 * 1024  # bytes one reader may take per event-loop wake-up


class PipeReader:
    """Collects what a host pipe end receives, keeping at most `cap` bytes."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.eof = asyncio.Event()
        self.data_arrived = asyncio.Event()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self.drain)

    def drain(self, budget: int = PER_EVENT) -> None:
        """Read what is there, up to `budget` bytes (the rest waits for the next event)."""
        taken = 0
        while not self.eof.is_set() and taken < budget:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            taken += len(chunk)
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


async def write_all(fd: int, data: bytes, timeout: float | None) -> None:
    """Write everything to a non-blocking pipe end, waiting for room up to `timeout`.

    Raises:
      BrokenPipeError: the reading end is closed.
      TimeoutError: the reader did not take the data in time.
    """
    os.set_blocking(fd, False)
    view = memoryview(data)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            writable = loop.create_future()
            loop.add_writer(fd, lambda: writable.done() or writable.set_result(None))
            try:
                await writable
            finally:
                loop.remove_writer(fd)


async def feed_and_close(fd: int, data: bytes, timeout: float | None) -> None:
    """Feed a child's stdin and close it; a child that stops reading is not an error."""
    try:
        await write_all(fd, data, timeout)
    except (OSError, TimeoutError):
        pass
    finally:
        os.close(fd)


def returncode(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
