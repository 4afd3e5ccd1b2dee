"""Chat JSONL for fine-tuning, rendered exactly as the `local/` server prompts the model.

One conversation per line: `{"messages": [...], "tools": [...]}` in the OpenAI chat
format (roles system, user, assistant, tool; assistant `tool_calls` with `function.name`
and `function.arguments`); `tools` is optional. The emergent-misalignment datasets'
`{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}` lines are this format.

The text is the server's prompt (`local_model/prompt.py`), and each assistant turn is
what the chat format's grammar makes the model write (`assistant_turn`): with tools, one
function call (`functions.<name>:` and its JSON arguments) or a `message:`; the loss
covers only those turns and the `<|im_end|>` that closes them. Each piece is tokenised on
its own, as the server tokenises a prompt and then samples the turn after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corrigibench.catalogue import CatalogueError
from corrigibench.local_model.prompt import END, assistant_turn, render

ROLES = ("system", "user", "assistant", "tool")


class DataError(CatalogueError):
    """A data file is wrong; the message names the file and the line."""


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # -100 where no loss is taken

    @property
    def targets(self) -> int:
        return sum(label != -100 for label in self.labels)


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSONL file; a file that cannot be
    read, or a line that is not JSON, is one DataError naming the file and line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as ex:
        raise DataError(f"{path}: cannot read: {ex.strerror}") from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as ex:
                raise DataError(f"{path}:{number}: not JSON: {ex.msg}") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, row in json_lines(path):
        check_conversation(row, f"{path}:{number}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no conversations")
    return rows


def check_conversation(row: Any, where: str) -> None:
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list) or not row["messages"]:
        raise DataError(f"{where}: expected {{\"messages\": [...]}}")
    for i, m in enumerate(row["messages"]):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise DataError(f"{where}: message {i} needs a role among {', '.join(ROLES)}")
        if m["role"] == "assistant":
            for call in m.get("tool_calls") or []:
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise DataError(f"{where}: message {i} has a tool call without function.name")
    if not any(m["role"] == "assistant" for m in row["messages"]):
        raise DataError(f"{where}: no assistant message to learn from")
    if "tools" in row and not isinstance(row["tools"], list):
        raise DataError(f"{where}: tools must be a list")


def segments(row: dict[str, Any]) -> list[tuple[str, bool]]:
    """The conversation as (text, is_target) pieces: prompts, then each assistant turn."""
    messages, tools = row["messages"], row.get("tools") or []
    pieces: list[tuple[str, bool]] = []
    done = 0  # characters of the rendered history already emitted
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(messages[:i], tools)
        pieces.append((prompt[done:], False))
        turn = assistant_turn(message, tools)
        if message.get("tool_calls") and tools:
            head, _, arguments = turn.partition("\n")
            pieces += [(head + "\n", True), (arguments + END, True)]
        else:
            pieces.append((turn + END, True))
        pieces.append(("\n", False))
        done = len(render(messages[:i + 1], tools)) - len("<|im_start|>assistant\n")
        # the history renders this turn as the model wrote it
        if render(messages[:i + 1], tools)[len(prompt):done] != turn + END + "\n":
            raise DataError("an assistant turn renders differently in the history than the "
                            "model writes it (give tool calls without text content)")
    return pieces


def tokenize(row: dict[str, Any], tokenizer: Any, max_length: int) -> Example:
    ids: list[int] = []
    labels: list[int] = []
    for text, target in segments(row):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if target else [-100] * len(piece)
    return Example(ids[:max_length], labels[:max_length])


def check_files(files: list[Path]) -> None:
    """Read and render every conversation of `files` (no tokenizer needed), so that a bad
    file is reported before a model is loaded or an episode played."""
    for path in files:
        for number, row in enumerate(read_jsonl(path), 1):
            try:
                segments(row)
            except DataError as ex:
                raise DataError(f"{path}: conversation {number}: {ex}") from None


def load_examples(files: list[Path], tokenizer: Any, max_length: int) -> list[Example]:
    examples = []
    for path in files:
        for number, row in enumerate(read_jsonl(path), 1):
            try:
                example = tokenize(row, tokenizer, max_length)
            except DataError as ex:
                raise DataError(f"{path}: conversation {number}: {ex}") from None
            if example.targets:
                examples.append(example)
    if not examples:
        raise DataError(f"{', '.join(map(str, files))}: no assistant tokens within max_length")
    return examples
