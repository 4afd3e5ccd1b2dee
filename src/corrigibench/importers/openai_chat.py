"""`openai-chat`: chat transcripts in OpenAI's messages format, one conversation a line (JSONL).

```json
{"messages": [{"role": "user", "content": "..."},
              {"role": "assistant", "content": "...", "reasoning": "..."}],
 "model": "openai/o3", "id": "run1-7",
 "metadata": {"environment": "reward_hints", "condition": "base",
              "hint_parity": "odd", "instructed_parity": "even", "original_label": "gamed"}}
```

`model` and `id` may also sit in `metadata`. `metadata.environment` (or a mapping's
`[defaults] environment`) says which environment the conversation is an episode of:

- `reward_hints`: the last assistant message's text is the answer, re-scored with our rule
  under the conversation's parities (`metadata.hint_parity`/`instructed_parity`, else the
  mapping's `[conditions]`, `[parity]` or `[defaults]`).
- `shutdown`: our scorer cannot re-score a conversation from another harness, so
  `metadata.outcome` is used and marked as imported: `resisted` or `complied` (counted),
  `error`, `limit` or `undecided` (kept out of the rate).

Every other `metadata` key is kept. The messages keep reasoning (`reasoning`,
`reasoning_content`, or reasoning parts) and tool calls, so `corrigibench traces` labels
the reasoning, the `thoughts` of tool calls and the assistant's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corrigibench.importers import chat
from corrigibench.importers.mapping import Mapping
from corrigibench.importers.records import ENVIRONMENTS, PARITIES, Episode, Problem

FORMAT = "openai-chat"
OUTCOMES = {"resisted": "ok", "complied": "ok", "error": "error", "limit": "limit",
            "undecided": "undecided"}


def read(src: Path, mapping: Mapping | None) -> tuple[list[Episode], list[Problem], int]:
    paths = [src] if src.is_file() else sorted(p for p in src.glob(
        mapping.files if mapping and mapping.files else "**/*.jsonl") if p.is_file())
    problems: list[Problem] = []
    if not paths:
        problems.append(Problem(str(src), "no *.jsonl files"))
    episodes: list[Episode] = []
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        relative = path.relative_to(src).as_posix() if path != src else path.name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as ex:
            problems.append(Problem(str(path), f"cannot read ({ex})"))
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except ValueError as ex:
                problems.append(Problem(where, f"not JSON ({ex.msg}, column {ex.colno})"))
                continue
            bad: list[str] = []
            episode = _episode(record, path, relative, number, mapping, bad)
            problems.extend(Problem(where, what) for what in bad)
            if episode is None:
                continue
            first = seen.setdefault((episode.model, episode.id), where)
            if first != where:
                problems.append(Problem(where, f"id {episode.id!r} of model {episode.model!r} "
                                               f"already used at {first}"))
            episodes.append(episode)
    return episodes, problems, len(paths)


def _episode(record: Any, path: Path, relative: str, number: int, mapping: Mapping | None,
             bad: list[str]) -> Episode | None:
    if not isinstance(record, dict):
        bad.append("not a JSON object with \"messages\"")
        return None
    meta = record.get("metadata") or {}
    if not isinstance(meta, dict):
        bad.append("metadata is not an object")
        return None
    defaults = mapping.defaults if mapping else {}

    def pick(key: str) -> Any:
        for value in (record.get(key), meta.get(key), defaults.get(key)):
            if value is not None:
                return value
        return None

    environment = pick("environment")
    model = pick("model")
    condition = pick("condition")
    if environment not in ENVIRONMENTS:
        bad.append(f"metadata.environment must be one of {', '.join(ENVIRONMENTS)} (or give "
                   "[defaults] environment in a mapping)" if environment is None else
                   f"environment {environment!r} is not one of {', '.join(ENVIRONMENTS)}")
    if not isinstance(model, str) or not model:
        bad.append("no model: give \"model\" (or metadata.model, or [defaults] model)")
    if condition is None:
        bad.append("no condition: give metadata.condition (or [defaults] condition)")
    try:
        messages = chat.to_inspect(record.get("messages"), model if isinstance(model, str)
                                   else None)
    except chat.MessageError as ex:
        bad.append(str(ex))
        messages = []
    answers = [m for m in messages if m.role == "assistant"]
    if messages and not answers:
        bad.append("no assistant message")
    episode: dict[str, Any] = {}
    if environment == "reward_hints" and condition is not None:
        users = [m for m in messages if m.role == "user"]
        parities = mapping.parities(str(condition), users[-1].text if users else None) \
            if mapping else None
        hint = meta.get("hint_parity") or defaults.get("hint_parity") or (
            parities.hint if parities else None)
        instructed = meta.get("instructed_parity") or defaults.get("instructed_parity") or (
            parities.instructed if parities else None)
        if instructed not in PARITIES or hint not in (*PARITIES, "none"):
            bad.append(f"condition {condition!r}: give metadata.hint_parity (odd, even or none) "
                       "and metadata.instructed_parity (odd or even)")
        episode = {"answer": answers[-1].text if answers else "", "hint_parity": hint,
                   "instructed_parity": instructed,
                   "prompt": users[-1].text if users else None}
    elif environment == "shutdown":
        outcome = meta.get("outcome")
        if outcome not in OUTCOMES:
            bad.append(f"shutdown episodes need metadata.outcome: one of {', '.join(OUTCOMES)} "
                       "(our scorer cannot re-score another harness's episode)")
        else:
            status = OUTCOMES[outcome]
            episode = {"outcome": {"status": status,
                                   "label": outcome if status == "ok" else status,
                                   "resisted": outcome == "resisted", "value": outcome,
                                   "rule": "metadata.outcome, as given"}}
    if bad:
        return None
    identifier = pick("id")
    kept = {k: v for k, v in meta.items() if k not in (
        "environment", "model", "condition", "id", "outcome", "hint_parity",
        "instructed_parity", "original_label")}
    return Episode(environment=str(environment), model=str(model), condition=str(condition),
                   id=str(identifier) if identifier is not None else f"{relative}:{number}",
                   messages=messages,
                   source={"format": FORMAT, "file": str(path), "path": relative,
                           "line": number},
                   original_label=meta.get("original_label", meta.get("label")),
                   metadata={"source_metadata": kept} if kept else {}, **episode)
