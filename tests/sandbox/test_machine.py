"""The machine and its persistent shell, driven directly (no Inspect)."""

from __future__ import annotations

import asyncio

import pytest

from corrigibench.sandbox.machine import Limits, Machine, MachineDied
from corrigibench.sandbox.shell import Shell

SCRIPT = {"/home/user/shutdown.sh": (b"#!/bin/bash\nkill -s TERM 1\n", 0o755)}


def run(coro):
    return asyncio.run(coro)


def test_shell_keeps_state_like_a_terminal() -> None:
    async def scenario():
        machine = await Machine.start()
        shell = Shell(machine)
        try:
            assert (await shell.run("cd /tmp && X=41 && f() { echo $((X+1)); }", 5)).returncode == 0
            r = await shell.run("pwd; f; echo $X", 5)
            assert r.output == "/tmp\n42\n41\n" and r.returncode == 0
            await shell.run("sleep 30 & echo $! > /tmp/bg", 5)
            assert (await shell.run("kill -0 $(cat /tmp/bg) && echo alive", 5)).output == "alive\n"
            r = await shell.run("echo out; echo err >&2; exit 7", 5)
            assert (r.output, r.returncode) == ("out\nerr\n", 7) and "shell exited" in r.note
            assert (await shell.run("pwd", 5)).output == "/home/user\n"  # a new session
            r = await shell.run("echo 'unbalanced", 5)
            assert r.returncode == 2 and "unexpected EOF" in r.output
            r = await shell.run("cat", 5)  # stdin is /dev/null, not the command stream
            assert (r.output, r.returncode) == ("", 0)
        finally:
            await machine.close()

    run(scenario())


def test_timeouts_and_huge_output_are_contained() -> None:
    async def scenario():
        machine = await Machine.start()
        shell = Shell(machine, output_cap=1000)
        try:
            r = await shell.run("sleep 20", 0.5)
            assert r.returncode is None and "timed out" in r.note
            r = await shell.run("yes | head -c 100000", 5)
            assert len(r.output) < 1100 and "[output truncated" in r.output
            assert (await shell.run("echo ok", 5)).output == "ok\n"
        finally:
            await machine.close()

    run(scenario())


def test_a_term_to_pid_1_always_beats_the_reply() -> None:
    """PID 1 reads its signals before answering: a command that sends TERM never returns."""

    async def scenario():
        for _ in range(25):
            machine = await Machine.start(files=SCRIPT)
            try:
                with pytest.raises(MachineDied):
                    await machine.exec(["bash", "-c", "./shutdown.sh; echo survived"])
                assert machine.died.is_set() and machine.death.signal == 15
                assert not await machine.alive()
            finally:
                await machine.close()

    run(scenario())


@pytest.mark.parametrize("sig", ["INT", "HUP", "USR1", "QUIT"])
def test_any_terminating_signal_to_pid_1_ends_the_machine(sig: str) -> None:
    async def scenario():
        machine = await Machine.start()
        try:
            with pytest.raises(MachineDied):
                await machine.exec(["kill", "-s", sig, "1"])
        finally:
            await machine.close()

    run(scenario())


def test_sigkill_and_sigstop_to_pid_1_do_nothing() -> None:
    async def scenario():
        machine = await Machine.start()
        try:
            for sig in ("KILL", "STOP"):
                await machine.exec(["kill", "-s", sig, "1"])
                assert await machine.alive()
        finally:
            await machine.close()

    run(scenario())


def test_limits_hold_inside_the_machine() -> None:
    async def scenario():
        machine = await Machine.start(limits=Limits(home_bytes=2**20, processes=20))
        try:
            r = await machine.exec(["bash", "-c", "head -c 3000000 /dev/zero > big; echo $?"])
            assert r.stdout.strip() != b"0" and b"No space left" in r.stderr
            r = await machine.exec(["bash", "-c", "for i in $(seq 40); do sleep 5 & done; wait"],
                                   timeout=20)
            assert b"Resource temporarily unavailable" in r.stderr
            assert await machine.alive()
        finally:
            await machine.close()

    run(scenario())


def test_exec_reports_missing_programs_and_files() -> None:
    async def scenario():
        machine = await Machine.start()
        try:
            with pytest.raises(FileNotFoundError):
                await machine.exec(["no-such-program"])
            r = await machine.exec(["cat", "/etc/passwd"])
            assert b"user:x:1000" in r.stdout and b"root:x:0" in r.stdout
            r = await machine.exec(["sh", "-c", "cat; echo; echo $HOME"], input=b"in")
            assert r.stdout == b"in\n/home/user\n"
        finally:
            await machine.close()

    run(scenario())
