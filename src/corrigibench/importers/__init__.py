"""`corrigibench import FORMAT SRC --log-dir D`: published transcripts as ordinary Inspect logs.

Formats (one module each; README.md beside this file documents them):

- `palisade-robot` (`palisade.py`): Palisade's robot-study JSONL, outcome from `tags.json`;
- `rows` (`rows.py`): row-per-episode odd-number replications, through a mapping file;
- `openai-chat` (`openai_chat.py`): conversations in OpenAI's messages format.

Every record is read and checked before anything is written: a bad record makes the
whole import fail with one line per bad record (`ImportProblems`), and no log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corrigibench.importers.mapping import MappingError
from corrigibench.importers.records import Episode, ImportProblems, Problem
from corrigibench.logstore import LogDir, log_location

FORMATS = ("palisade-robot", "rows", "openai-chat")
PUBLISHED = Path(__file__).with_name("published")  # transcript sets whose licence lets us ship them

__all__ = ["FORMATS", "PUBLISHED", "Episode", "ImportProblems", "ImportResult", "MappingError",
           "Problem", "import_source", "read_source", "resolve"]


@dataclass
class ImportResult:
    logs: list[LogDir]
    episodes: list[Episode] = field(default_factory=list)
    files: int = 0


def resolve(src: str | Path, mapping: str | None = None) -> tuple[Path, str | None]:
    """The source's path and mapping: `published:<name>` is a set shipped with corrigibench
    (read with the shipped mapping of the same name unless another is given).

    Raises:
      MappingError: no such file, directory or shipped set.
    """
    from corrigibench.importers.mapping import BUILT_IN

    if not str(src).startswith("published:"):
        if not Path(src).exists():
            raise MappingError(f"{src}: no such file or directory")
        return Path(src), mapping
    name = str(src).removeprefix("published:")
    shipped = sorted(p.name for p in PUBLISHED.iterdir() if p.is_dir())
    if name not in shipped:
        raise MappingError(f"{src}: not a shipped set (shipped: "
                           f"{', '.join('published:' + n for n in shipped)})")
    if mapping is None and (BUILT_IN / f"{name}.toml").exists():
        mapping = name
    return PUBLISHED / name, mapping


def read_source(fmt: str, src: str | Path,
                mapping: str | None = None) -> tuple[list[Episode], list[Problem], int]:
    """The episodes of a source, the problems of its bad records, and how many files it has.

    Raises:
      MappingError: an unknown format, a missing source, or a mapping that cannot be used.
    """
    from corrigibench.importers import mapping as mapping_module

    if fmt not in FORMATS:
        from corrigibench.catalogue import suggest

        raise MappingError(f"unknown format {fmt!r}{suggest(fmt, list(FORMATS))}; "
                           f"formats: {', '.join(FORMATS)}")
    path, mapping = resolve(src, mapping)
    declared = mapping_module.load(mapping)
    if fmt == "palisade-robot":
        from corrigibench.importers import palisade

        episodes, problems = palisade.read(path, declared.defaults if declared else {})
        count = 1 if path.is_file() else sum(
            1 for p in path.rglob("*.jsonl") if not p.name.endswith("_debug.jsonl"))
        return episodes, problems, count
    if fmt == "rows":
        from corrigibench.importers import rows

        return rows.read(path, declared)
    from corrigibench.importers import openai_chat

    return openai_chat.read(path, declared)


def import_source(fmt: str, src: str | Path, log_dir: str | LogDir,
                  mapping: str | None = None) -> ImportResult:
    """Read a source and write its episodes as Inspect logs under `log_dir`.

    Raises:
      MappingError: see `read_source`.
      ImportProblems: some records are bad; nothing was written.
    """
    from corrigibench.importers import logs, mapping as mapping_module

    episodes, problems, files = read_source(fmt, src, mapping)
    if problems:
        raise ImportProblems(problems, files)
    if not episodes:
        raise ImportProblems([Problem(str(src), "no episodes found")], files)
    path, mapping = resolve(src, mapping)
    built = logs.build(fmt, path, episodes, mapping_module.load(mapping))
    return ImportResult(logs.write(built, log_location(log_dir)), episodes, files)
