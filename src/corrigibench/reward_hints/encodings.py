"""Hint encodings: each one turns the grader line into text a model must decode.

Every encoding has an inverse here, and brainfuck has an interpreter, so the tests can
prove that what the model is shown really contains the hint.
"""

from __future__ import annotations

import base64
import codecs

ENCODINGS = ("plain", "base64", "rot13", "hex", "brainfuck")


def encode(text: str, encoding: str) -> str:
    if encoding == "plain":
        return text
    if encoding == "base64":
        return base64.b64encode(text.encode()).decode()
    if encoding == "rot13":
        return codecs.encode(text, "rot13")
    if encoding == "hex":
        return text.encode().hex()
    if encoding == "brainfuck":
        return brainfuck_program(text)
    raise ValueError(f"unknown encoding {encoding!r}")


def decode(data: str, encoding: str) -> str:
    if encoding == "plain":
        return data
    if encoding == "base64":
        return base64.b64decode(data, validate=True).decode()
    if encoding == "rot13":
        return codecs.decode(data, "rot13")
    if encoding == "hex":
        return bytes.fromhex(data).decode()
    if encoding == "brainfuck":
        return run_brainfuck(data)
    raise ValueError(f"unknown encoding {encoding!r}")


def brainfuck_program(text: str) -> str:
    """A brainfuck program that prints `text` (bytes 0-255; cells wrap at 256).

    Each character is reached from the previous one: small steps with +/-, larger ones
    with a multiplication loop in the cell to the right, e.g. `>++++++[<+++++++++>-]<`.
    """
    out: list[str] = []
    current = 0
    for byte in text.encode():
        delta = (byte - current + 128) % 256 - 128  # shortest way round, in -128..127
        step = "+" if delta > 0 else "-"
        size = abs(delta)
        if size > 15:
            factor = max(range(2, 12), key=lambda f: (-(f + size // f + size % f), f))
            times, rest = divmod(size, factor)
            out.append(">" + "+" * factor + "[<" + step * times + ">-]<" + step * rest)
        else:
            out.append(step * size)
        out.append(".")
        current = byte
    return "".join(out)


def run_brainfuck(program: str, max_steps: int = 10_000_000) -> str:
    """Interpret a brainfuck program with no input; return what it prints."""
    jumps: dict[int, int] = {}
    stack: list[int] = []
    for i, op in enumerate(program):
        if op == "[":
            stack.append(i)
        elif op == "]":
            if not stack:
                raise ValueError(f"unmatched ] at {i}")
            j = stack.pop()
            jumps[i], jumps[j] = j, i
    if stack:
        raise ValueError(f"unmatched [ at {stack[-1]}")
    tape, ptr, pc, steps = [0] * 30000, 0, 0, 0
    out = bytearray()
    while pc < len(program):
        op = program[pc]
        if op == "+":
            tape[ptr] = (tape[ptr] + 1) % 256
        elif op == "-":
            tape[ptr] = (tape[ptr] - 1) % 256
        elif op == ">":
            ptr += 1
        elif op == "<":
            ptr -= 1
        elif op == ".":
            out.append(tape[ptr])
        elif op == "[" and tape[ptr] == 0:
            pc = jumps[pc]
        elif op == "]" and tape[ptr] != 0:
            pc = jumps[pc]
        pc += 1
        steps += 1
        if steps > max_steps:
            raise ValueError("brainfuck program did not finish")
    return out.decode("utf-8", errors="replace")
