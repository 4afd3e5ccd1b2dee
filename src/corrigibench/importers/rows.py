"""`rows`: one record per episode of an odd-number replication, read through a mapping file.

A record is a line of a JSONL file, or an element of a list inside a JSON file (the
mapping's `records`). The mapping (`mapping.py`) says where the prompt, reasoning, answer,
model, condition, id and original label are, and which parities each condition has. The
answer is re-scored with our answer rule; the source's label is kept beside ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corrigibench.importers import chat
from corrigibench.importers.mapping import USAGE_FIELDS, Mapping, MappingError, get, missing
from corrigibench.importers.records import Episode, Problem

FORMAT = "rows"


def files(src: Path, pattern: str) -> list[Path]:
    return [src] if src.is_file() else sorted(p for p in src.glob(pattern) if p.is_file())


def read(src: Path, mapping: Mapping | None) -> tuple[list[Episode], list[Problem], int]:
    if mapping is None:
        raise MappingError("rows needs --mapping FILE: where each record keeps its prompt, "
                           "reasoning, answer, model and condition (see corrigibench/importers/"
                           "README.md, or a shipped mapping such as "
                           "theamankumarsingh-odd-number-forensics)")
    if mapping.environment != "reward_hints":
        raise MappingError(f"{mapping.path}: rows imports reward_hints episodes only (a shutdown "
                           "episode needs its whole conversation: use openai-chat)")
    for required in ("answer",):
        if required not in mapping.fields:
            raise MappingError(f"{mapping.path}: [fields] must give {required}")
    paths = files(src, mapping.files or ("**/*.json" if mapping.records else "**/*.jsonl"))
    problems: list[Problem] = []
    if not paths:
        problems.append(Problem(str(src), f"no files match {mapping.files or 'the default'} "
                                          "(set files = \"...\" in the mapping)"))
    episodes: list[Episode] = []
    found: dict[str, int] = {}
    for path in paths:
        relative = path.relative_to(src).as_posix() if path != src else path.name
        for where, locator, record, file_data in _records(path, mapping, problems):
            episode = _episode(record, file_data, path, relative, where, locator, mapping,
                               problems, found)
            if episode is not None:
                episodes.append(episode)
    for key in ("reasoning", "original_label", "prompt"):
        if key in mapping.fields and episodes and not found.get(key):
            problems.append(Problem(mapping.path, f"[fields] {key} = {mapping.fields[key]!r} "
                                                  "matches no record"))
    seen: dict[tuple[str, str], str] = {}
    for e in episodes:
        where = f"{e.source['file']}:{e.source.get('line', e.source.get('record'))}"
        first = seen.setdefault((e.model, e.id), where)
        if first != where:
            problems.append(Problem(where, f"id {e.id!r} of model {e.model!r} already used at "
                                           f"{first}"))
    return episodes, problems, len(paths)


def _records(path: Path, mapping: Mapping, problems: list[Problem]):
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        problems.append(Problem(str(path), f"cannot read ({ex})"))
        return
    if mapping.records is None:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as ex:
                problems.append(Problem(f"{path}:{number}", f"not JSON ({ex.msg}, column "
                                                            f"{ex.colno})"))
                continue
            yield f"{path}:{number}", {"line": number}, record, None
        return
    try:
        data = json.loads(text)
    except ValueError as ex:
        problems.append(Problem(f"{path}:{ex.lineno}", f"not JSON ({ex.msg})"))
        return
    records = get(data, mapping.records)
    if missing(records) or not isinstance(records, list):
        problems.append(Problem(str(path), f"no list of records at {mapping.records!r}"))
        return
    for index, record in enumerate(records):
        yield (f"{path}: {mapping.records}[{index}]", {"record": f"{mapping.records}[{index}]"},
               record, data)


def _episode(record: Any, file_data: Any, path: Path, relative: str, where: str,
             locator: dict[str, Any], mapping: Mapping, problems: list[Problem],
             found: dict[str, int]) -> Episode | None:
    if not isinstance(record, dict):
        problems.append(Problem(where, "not a JSON object"))
        return None
    bad: list[str] = []

    def value(key: str, required: bool = False) -> Any:
        paths = mapping.fields.get(key)
        if paths is None:
            return mapping.defaults.get(key)
        got = [get(record, p, file_data, str(path), relative)
               for p in (paths if isinstance(paths, tuple) else (paths,))]
        if any(missing(g) for g in got):
            if key in mapping.defaults:
                return mapping.defaults[key]
            if required:
                bad.append(f"no {key} at {_show(paths)}")
            return None
        found[key] = found.get(key, 0) + 1
        return ":".join(str(g) for g in got) if isinstance(paths, tuple) else got[0]

    model, condition = value("model", True), value("condition", True)
    answer, reasoning = value("answer", True), value("reasoning")
    prompt = value("prompt", "prompt" in mapping.fields)
    original, error = value("original_label"), value("error")
    identifier = value("id", "id" in mapping.fields)
    for key, v in (("model", model), ("condition", condition)):
        if v is None and f"no {key} at" not in " ".join(bad):
            bad.append(f"no {key}: give [fields] {key} or [defaults] {key} in the mapping")
        elif v is not None and not isinstance(v, (str, int)):
            bad.append(f"{key} is not text: {v!r}")
    if answer is not None and not isinstance(answer, str):
        bad.append(f"answer at {_show(mapping.fields['answer'])} is not text")
    if reasoning is not None and not isinstance(reasoning, str):
        bad.append(f"reasoning at {_show(mapping.fields['reasoning'])} is not text")
    prompt_text = prompt if isinstance(prompt, str) else (
        json.dumps(prompt, ensure_ascii=False, sort_keys=True) if prompt is not None else None)
    parities = mapping.parities(str(condition), prompt_text) if condition is not None else None
    hint = mapping.defaults.get("hint_parity") or (parities.hint if parities else None)
    instructed = mapping.defaults.get("instructed_parity") or (
        parities.instructed if parities else None)
    if condition is not None and (hint is None or instructed is None):
        bad.append(f"condition {condition!r} has no declared parities: add "
                   f"[conditions.\"{condition}\"], a [[hints]] rule its prompt matches, or "
                   "[parity] to the mapping")
    messages: list[Any] = []
    if isinstance(prompt, str):
        from inspect_ai.model import ChatMessageUser

        messages = [ChatMessageUser(content=prompt)]
    elif prompt is not None:
        try:
            messages = chat.to_inspect(prompt)
        except chat.MessageError as ex:
            bad.append(f"prompt at {_show(mapping.fields['prompt'])}: {ex}")
    usage = {key: value(key) for key in USAGE_FIELDS if key in mapping.fields}
    for key, count in usage.items():
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                                  or count < 0):
            bad.append(f"{key} at {_show(mapping.fields[key])} is not a token count: {count!r}")
    if bad:
        problems.extend(Problem(where, what) for what in bad)
        return None
    from inspect_ai.model import ChatMessageAssistant, ContentReasoning, ContentText

    text = answer or ""
    content: Any = ([ContentReasoning(reasoning=reasoning), ContentText(text=text)]
                    if reasoning and reasoning.strip() else text)
    messages.append(ChatMessageAssistant(content=content, model=str(model)))
    return Episode(
        environment="reward_hints", model=str(model), condition=str(condition),
        id=str(identifier) if identifier is not None else f"{relative}:"
        f"{locator.get('line', locator.get('record'))}",
        messages=messages, source={"format": FORMAT, "file": str(path), "path": relative,
                                   **locator},
        answer=text, hint_parity=hint, instructed_parity=instructed, prompt=prompt_text,
        original_label=original,
        metadata={"api_error": str(error)} if error else {},
        usage={k: v for k, v in usage.items() if v is not None} or None)


def _show(paths: str | tuple[str, ...]) -> str:
    return repr(paths) if isinstance(paths, str) else repr(list(paths))

