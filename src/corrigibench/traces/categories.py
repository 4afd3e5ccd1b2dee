"""Reasoning categories: `categories.toml` (beside this file) plus any user file."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from corrigibench.catalogue import CatalogueError, read_toml, select

CATALOGUE = Path(__file__).with_name("categories.toml")
ENVIRONMENTS = ("shutdown", "reward_hints")
_LISTS = ("patterns", "examples", "counterexamples", "semantic_examples")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Category:
    name: str
    definition: str
    environments: tuple[str, ...]
    patterns: tuple[str, ...]
    examples: tuple[str, ...] = ()
    counterexamples: tuple[str, ...] = ()
    semantic_examples: tuple[str, ...] = ()  # anchors of the semantic layer (else examples)
    semantic_threshold: float | None = None  # its cosine threshold (else its default)

    def applies(self, environment: str) -> bool:
        return environment in self.environments

    @property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return _compile(self.patterns)


@cache
def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def _parse(path: Path) -> dict[str, Category]:
    data = read_toml(path)
    unknown = set(data) - {"schema", "categories"}
    if unknown:
        raise CatalogueError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    if data.get("schema", 1) != 1:
        raise CatalogueError(f"{path}: unsupported schema {data['schema']!r} (expected 1)")
    entries = data.get("categories")
    if not isinstance(entries, dict) or not entries:
        raise CatalogueError(f"{path}: no [categories.<name>] entries")
    out = {}
    for name, entry in entries.items():
        where = f"{path}: [categories.{name}]"
        if not _NAME.fullmatch(name):
            raise CatalogueError(f"{where}: a name is lower case letters, digits and _")
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where} must be a table")
        extra = set(entry) - {"definition", "environments", "semantic_threshold", *_LISTS}
        if extra:
            raise CatalogueError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        if not isinstance(entry.get("definition"), str) or not entry["definition"].strip():
            raise CatalogueError(f"{where}: missing definition")
        environments = entry.get("environments", list(ENVIRONMENTS))
        if (not isinstance(environments, list) or not environments
                or any(e not in ENVIRONMENTS for e in environments)):
            raise CatalogueError(f"{where}: environments must list some of "
                                 f"{', '.join(ENVIRONMENTS)}")
        lists = {}
        for key in _LISTS:
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise CatalogueError(f"{where}: {key} must be a list of strings")
            lists[key] = tuple(value)
        for pattern in lists["patterns"]:
            try:
                re.compile(pattern)
            except re.error as ex:
                raise CatalogueError(f"{where}: bad pattern {pattern!r}: {ex}") from None
        threshold = entry.get("semantic_threshold")
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, (int, float))
                                      or not 0 < threshold <= 1):
            raise CatalogueError(f"{where}: semantic_threshold must be a number in (0, 1]")
        out[name] = Category(name, " ".join(entry["definition"].split()), tuple(environments),
                             **lists, semantic_threshold=threshold)
    return out


@cache
def _load(extra: tuple[Path, ...]) -> dict[str, Category]:
    categories = _parse(CATALOGUE)
    for path in extra:
        for name, category in _parse(path).items():
            if name in categories:
                raise CatalogueError(f"{path}: [categories.{name}] is already defined")
            categories[name] = category
    return categories


def load_categories(extra_file: str | Path | None = None) -> dict[str, Category]:
    """Every category: the built-in file plus, optionally, a user file of new ones."""
    extra = (Path(extra_file).expanduser().resolve(),) if extra_file else ()
    return _load(extra)


def get_categories(names: str | None = None, extra_file: str | Path | None = None
                   ) -> list[Category]:
    """Categories by comma-separated names (all when None); typos get suggestions."""
    categories = load_categories(extra_file)
    chosen = select(names or "all", categories, kind="category",
                    listing="`corrigibench traces --list` lists them")
    return [categories[n] for n in chosen]


def fingerprint(categories: list[Category]) -> str:
    """Changes whenever a category's meaning does: judge results are reused only under it."""
    blob = json.dumps([[c.name, c.definition, c.environments, c.examples, c.counterexamples]
                       for c in categories])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
