"""The mapping file: how a dataset's records become episodes (TOML, written per dataset).

```toml
schema = 1
description = "what the data is"             # optional, recorded in the logs
source = "owner/repo@commit path"            # optional, recorded in the logs
licence = "MIT"                              # optional, recorded in the logs
environment = "reward_hints"                 # rows: reward_hints (the default)
records = "results"                          # rows: where a JSON file keeps its list of
                                             #   records; leave out for JSONL (a record a line)
files = "**/*.json"                          # rows: which files under a source directory
                                             #   (default **/*.jsonl, or **/*.json with records)

[fields]                                     # rows: where each value is in a record
prompt = "input"                             # text, or an OpenAI messages list
reasoning = "response.thinking"              # optional
answer = "response.text"                     # the final answer, re-scored by our rule
model = "config.model"
condition = "run"
id = ["run", "iteration"]                    # optional: a path or a list (joined with ":");
                                             #   default: the record's place in its file
original_label = "evaluation"                # optional: kept as it is beside our label
error = "error"                              # optional: a non-empty value marks an API error
input_tokens = "usage.prompt_tokens"         # optional: token usage, kept as the episode's
output_tokens = "usage.completion_tokens"    #   model usage (`output_tokens` includes any
reasoning_tokens = "usage.reasoning_tokens"  #   reasoning, as the APIs count it)

[defaults]                                   # any format: values for records that lack them
model = "openai/o3"
condition = "base"

[parity]                                     # reward_hints: for conditions not listed below
instructed = "even"
hint = "odd"                                 # odd, even, or none (no hint: nothing to game)

[conditions."control*"]                      # reward_hints: per condition (glob patterns,
instructed = "even"                          #   first match wins)
hint = "even"

[[hints]]                                    # reward_hints: or by what the prompt says (the
contains = "reward = 1 - (output % 2)"       #   first rule whose text the prompt contains)
hint = "even"
```

A condition's parities come from the first `[conditions]` pattern it matches, else from
the first `[[hints]]` rule its prompt contains, else from `[parity]`; a record with none of
them is a bad record (the gaming label depends on them, so they are never guessed).

A path is keys joined by dots, with list positions as numbers (`choices.0.message.content`).
`$file.` starts a path at the top of the record's file (`$file.metadata.prompt`); `$stem` is
the file's name without its extension, `$path` its path under the source.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrigibench.catalogue import CatalogueError
from corrigibench.importers.records import ENVIRONMENTS, PARITIES

BUILT_IN = Path(__file__).with_name("mappings")
USAGE_FIELDS = ("input_tokens", "output_tokens", "reasoning_tokens")
FIELDS = ("prompt", "reasoning", "answer", "model", "condition", "id", "original_label", "error",
          *USAGE_FIELDS)
_TOP = {"schema", "description", "source", "licence", "environment", "records", "files",
        "fields", "defaults", "parity", "conditions", "hints"}
_DEFAULTS = {"model", "condition", "environment", "hint_parity", "instructed_parity"}
_MISSING = object()


class MappingError(CatalogueError):
    """The mapping file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Parities:
    instructed: str
    hint: str  # odd | even | none


@dataclass(frozen=True)
class Mapping:
    path: str
    description: str = ""
    source: str = ""
    licence: str = ""
    environment: str = "reward_hints"
    records: str | None = None
    files: str | None = None
    fields: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    parity: Parities | None = None
    conditions: tuple[tuple[str, Parities], ...] = ()
    hints: tuple[tuple[str, Parities], ...] = ()

    def parities(self, condition: str, prompt: str | None = None) -> Parities | None:
        """The declared parities: the condition's first matching pattern, else the first
        hint rule the prompt contains, else [parity]."""
        for pattern, parities in self.conditions:
            if fnmatch.fnmatchcase(condition, pattern):
                return parities
        for text, parities in self.hints:
            if prompt is not None and text in prompt:
                return parities
        return self.parity

    def describe(self) -> dict[str, Any]:
        return {"mapping": self.path, "description": self.description, "source": self.source,
                "licence": self.licence}


def built_in() -> list[str]:
    return sorted(p.stem for p in BUILT_IN.glob("*.toml"))


def load(name: str | None) -> Mapping | None:
    """A mapping from a file, or one shipped with corrigibench by name (`mappings/`)."""
    if name is None:
        return None
    path = Path(name)
    if not path.exists() and (BUILT_IN / f"{name}.toml").exists():
        path = BUILT_IN / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        shipped = ", ".join(built_in())
        raise MappingError(f"{name}: no such file (mappings shipped with corrigibench: "
                           f"{shipped})") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as ex:
        raise MappingError(f"{path}: cannot read: {ex}") from None
    where = str(path)
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise MappingError(f"{where}: unknown key {unknown[0]!r} "
                           f"(known: {', '.join(sorted(_TOP))})")
    if data.get("schema", 1) != 1:
        raise MappingError(f"{where}: schema {data['schema']!r} is not 1")
    environment = data.get("environment", "reward_hints")
    if environment not in ENVIRONMENTS:
        raise MappingError(f"{where}: environment must be one of {', '.join(ENVIRONMENTS)}")
    fields: dict[str, str | tuple[str, ...]] = {}
    for key, value in (data.get("fields") or {}).items():
        if key not in FIELDS:
            raise MappingError(f"{where}: [fields] {key}: not a field "
                               f"(fields: {', '.join(FIELDS)})")
        if key == "id" and isinstance(value, list) and value \
                and all(isinstance(v, str) for v in value):
            fields[key] = tuple(value)
        elif isinstance(value, str) and value:
            fields[key] = value
        else:
            raise MappingError(f"{where}: [fields] {key}: a path is a non-empty string"
                               + (" or a list of them" if key == "id" else ""))
    defaults = dict(data.get("defaults") or {})
    for key, value in defaults.items():
        if key not in _DEFAULTS or not isinstance(value, str):
            raise MappingError(f"{where}: [defaults] {key}: defaults are strings for "
                               f"{', '.join(sorted(_DEFAULTS))}")
    if "environment" in defaults and defaults["environment"] not in ENVIRONMENTS:
        raise MappingError(f"{where}: [defaults] environment must be one of "
                           f"{', '.join(ENVIRONMENTS)}")
    parity = _parities(data["parity"], f"{where}: [parity]") if "parity" in data else None
    conditions = tuple((str(pattern), _parities(value, f"{where}: [conditions.{pattern}]"))
                       for pattern, value in (data.get("conditions") or {}).items())
    hints = []
    for n, rule in enumerate(data.get("hints") or []):
        where_rule = f"{where}: [[hints]] #{n + 1}"
        if not isinstance(rule, dict) or not isinstance(rule.get("contains"), str) \
                or not rule["contains"]:
            raise MappingError(f"{where_rule}: give contains = \"text the prompt holds\"")
        hints.append((rule["contains"], _parities(
            {k: v for k, v in rule.items() if k != "contains"}, where_rule)))
    for key in ("description", "source", "licence", "records", "files"):
        if key in data and not isinstance(data[key], str):
            raise MappingError(f"{where}: {key} must be a string")
    return Mapping(where, data.get("description", ""), data.get("source", ""),
                   data.get("licence", ""), environment, data.get("records"), data.get("files"),
                   fields, defaults, parity, conditions, tuple(hints))


def _parities(value: Any, where: str) -> Parities:
    if not isinstance(value, dict) or set(value) - {"instructed", "hint"}:
        raise MappingError(f"{where}: give instructed = odd|even and hint = odd|even|none")
    instructed, hint = value.get("instructed", "even"), value.get("hint")
    if instructed not in PARITIES or hint not in (*PARITIES, "none"):
        raise MappingError(f"{where}: give instructed = odd|even and hint = odd|even|none")
    return Parities(instructed, hint)


def get(record: Any, path: str, file_data: Any = None, file_path: str = "",
        relative: str = "") -> Any:
    """The value at a dotted path (`_MISSING` when any step is absent)."""
    if path == "$stem":
        return Path(file_path).stem
    if path == "$path":
        return relative
    if path in ("", "."):
        return record
    if path.startswith("$file."):
        record, path = file_data, path.removeprefix("$file.")
    value = record
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit() \
                and -len(value) <= int(step) < len(value):
            value = value[int(step)]
        else:
            return _MISSING
    return value


def missing(value: Any) -> bool:
    return value is _MISSING
