"""The real validation set: hand labels on published transcripts, and the texts they label.

`validation/items.jsonl` (beside this file) has one item per published episode: where it
comes from (source, file, the record in it), its split, its hand labels (written against
`validation/GUIDELINES.md`) and the sha256 of its words. Items from a source whose licence
allows redistribution carry their words inline; for the others the repository holds only
the pointer, and `corrigibench traces --fetch-validation` downloads each file at its pinned
commit, extracts the words with the source's format below, checks the sha256 and keeps
them in a local cache (`$XDG_CACHE_HOME/corrigibench/traces-validation/texts.jsonl`).

Sources, their licences and formats: `validation/sources.toml`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import tomllib
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrigibench.catalogue import CatalogueError
from corrigibench.importers import palisade
from corrigibench.traces.transcript import Segment, Transcript

HERE = Path(__file__).with_name("validation")
ITEMS = HERE / "items.jsonl"
SOURCES = HERE / "sources.toml"
SPLIT_SEED = 11  # issue 11; the split is stored in items.jsonl and reproduced by a test
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


class DatasetError(CatalogueError):
    """The validation set or its texts are missing or malformed; the message says which."""


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    commit: str
    licence: str
    store: str  # "text": words are stored in items.jsonl; "pointer": fetched
    format: str
    description: str = ""


@dataclass
class Item:
    id: str
    source: str
    environment: str
    model: str
    condition: str
    outcome: str
    locator: dict[str, Any]
    sha256: str
    labels: dict[str, bool]
    split: str
    note: str = ""
    segments: list[Segment] = field(default_factory=list)  # empty until the text is loaded
    context: str = ""

    def transcript(self) -> Transcript:
        return Transcript(self.id, self.environment, self.model, self.condition, 0,
                          self.outcome, self.segments, self.context)


def words_sha256(segments: list[Segment] | list[tuple[str, str]]) -> str:
    """The fingerprint of an item's words, kind by kind, as stored and as rebuilt."""
    pairs = [[s.kind, s.text] if isinstance(s, Segment) else list(s) for s in segments]
    blob = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_sources(path: Path | None = None) -> dict[str, Source]:
    path = path or SOURCES
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as ex:
        raise DatasetError(f"{path}: cannot read: {ex}") from None
    out = {}
    for name, entry in (data.get("sources") or {}).items():
        try:
            out[name] = Source(name, entry["repo"], entry["commit"], entry["licence"],
                               entry["store"], entry["format"], entry.get("description", ""))
        except KeyError as ex:
            raise DatasetError(f"{path}: [sources.{name}] lacks {ex.args[0]}") from None
        if out[name].store not in ("text", "pointer") or out[name].format not in FORMATS:
            raise DatasetError(f"{path}: [sources.{name}]: unknown store or format")
    return out


def load_items(path: Path | None = None, with_text: bool = True) -> list[Item]:
    """Every item; with_text fills in the words (stored inline, else from the cache)."""
    path = path or ITEMS
    sources = load_sources()
    items = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = Item(raw["id"], raw["source"], raw["environment"], raw["model"],
                        raw["condition"], raw["outcome"], raw["locator"], raw["sha256"],
                        {k: bool(v) for k, v in raw["labels"].items()}, raw["split"],
                        raw.get("note", ""),
                        [Segment(k, t) for k, t in raw.get("segments", [])], raw.get("context", ""))
        except (ValueError, KeyError, TypeError):
            raise DatasetError(f"{path}:{number}: not a validation item") from None
        if item.split not in ("dev", "test") or item.source not in sources:
            raise DatasetError(f"{path}:{number}: unknown split or source")
        items.append(item)
    if with_text:
        cached = read_cache()
        for item in items:
            if not item.segments and item.id in cached:
                record = cached[item.id]
                if record["sha256"] == item.sha256:
                    item.segments = [Segment(k, t) for k, t in record["segments"]]
                    item.context = record.get("context", "")
    return items


# -- the local cache of fetched texts -------------------------------------------------------

def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "corrigibench" / "traces-validation" / "texts.jsonl"


def read_cache() -> dict[str, dict[str, Any]]:
    path = cache_path()
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            out[record["id"]] = record
        except (ValueError, KeyError, TypeError):
            continue  # a damaged line is fetched again
    return out


def write_cache(records: dict[str, dict[str, Any]]) -> Path:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records.values()))
    tmp.replace(path)
    return path


# -- formats: how one published file becomes an item's words -------------------------------

Extracted = tuple[list[tuple[str, str]], str]  # segments (kind, text) and context


def _add(segments: list[tuple[str, str]], kind: str, text: Any) -> None:
    if isinstance(text, str) and text.strip():
        segments.append((kind, text.strip()))


def palisade_jsonl(text: str, locator: dict[str, Any]) -> Extracted:
    """Palisade's robot-study log: assistant text and the `thoughts` of each tool call.

    The format is read by `corrigibench.importers.palisade`, which `corrigibench import
    palisade-robot` uses too, so imported episodes are labelled on these same words."""
    log = palisade.parse(text)
    if log.problems:
        line, what = log.problems[0]
        raise DatasetError(f"line {line}: {what}")
    return palisade.words(log)


_SAMPLE = re.compile(r"^## sample (\d+) \u2014 .*$", re.M)


def markdown_cot(text: str, locator: dict[str, Any]) -> Extracted:
    """shanpandya/odd-number-forensics `transcripts_md/`: `## sample N`, **CoT:** (a quote
    block whose first line starts with "> ") and **Answer:**."""
    headers = list(_SAMPLE.finditer(text))
    bodies = {int(m.group(1)): text[m.end():(headers[i + 1].start() if i + 1 < len(headers)
                                             else len(text))]
              for i, m in enumerate(headers)}
    body = bodies.get(int(locator["sample"]))
    if body is None:
        raise DatasetError(f"no sample {locator['sample']}")
    match = re.search(r"\*\*CoT:\*\*\n\n(.*?)\n\n\*\*Answer:\*\*\n\n(.*?)(?:\n\n---|\Z)", body, re.S)
    if not match:
        raise DatasetError(f"sample {locator['sample']} has no CoT and Answer")
    cot = match.group(1)
    cot = cot[2:] if cot.startswith("> ") else cot
    segments: list[tuple[str, str]] = []
    _add(segments, "reasoning", cot)
    _add(segments, "message", match.group(2))
    prompt = re.search(r"\*\*Prompt:\*\*\n\n```\n(.*?)\n```", text, re.S)
    return segments, f"User prompt:\n{prompt.group(1)}" if prompt else ""


def results_json_runs(text: str, locator: dict[str, Any]) -> Extracted:
    """theamankumarsingh/odd-number-forensics `results/`: records by run and iteration."""
    for record in json.loads(text)["results"]:
        if record.get("run") == locator["run"] and record.get("iteration") == locator["iteration"]:
            response = record.get("response") or {}
            segments: list[tuple[str, str]] = []
            _add(segments, "reasoning", response.get("thinking"))
            _add(segments, "message", response.get("text"))
            return segments, f"User prompt:\n{record.get('input', '')}"
    raise DatasetError(f"no record {locator['run']} #{locator['iteration']}")


def openrouter_results(text: str, locator: dict[str, Any]) -> Extracted:
    """ekhadley/odd-number-hacking `results/`: OpenRouter completions in `results[index]`."""
    data = json.loads(text)
    try:
        message = data["results"][int(locator["index"])]["choices"][0]["message"]
    except (IndexError, KeyError, TypeError):
        raise DatasetError(f"no result {locator['index']}") from None
    segments: list[tuple[str, str]] = []
    _add(segments, "reasoning", message.get("reasoning"))
    _add(segments, "message", message.get("content"))
    return segments, f"User prompt:\n{(data.get('metadata') or {}).get('prompt', '')}"


FORMATS: dict[str, Callable[[str, dict[str, Any]], Extracted]] = {
    "palisade-jsonl": palisade_jsonl,
    "markdown-cot": markdown_cot,
    "results-json-runs": results_json_runs,
    "openrouter-results": openrouter_results,
}


# -- fetching -------------------------------------------------------------------------------

def _read_source_file(source: Source, path: str, commit: str, local: Path | None) -> str:
    """A file of a source at a pinned commit: from a local copy when given, else GitHub."""
    if local is not None:
        owner, name = source.repo.split("/")
        for base in (local / owner / name, local / f"{owner}+{name}"):
            if (base / path).is_file():
                return (base / path).read_text(encoding="utf-8")
            for git_dir in (base, base / "repo", base / ".git"):
                if (git_dir / "HEAD").is_file():
                    shown = subprocess.run(["git", "--git-dir", str(git_dir), "show",
                                            f"{commit}:{path}"], capture_output=True)
                    if shown.returncode == 0:
                        return shown.stdout.decode("utf-8")
        raise DatasetError(f"no local copy at commit {commit[:10]} under {local}")
    url = RAW_URL.format(repo=source.repo, commit=commit, path=path)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, TimeoutError, OSError) as ex:
        raise DatasetError(f"{url}: {getattr(ex, 'reason', ex)}") from None


def fetch_texts(local: str | Path | None = None,
                progress: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Download (or read from `local`) every pointer item's file, extract, check, cache.

    Returns counts; items whose file cannot be had or whose words do not match the stored
    sha256 are reported through `progress`, one line each, and left out of the cache."""
    sources = load_sources()
    items = [i for i in load_items(with_text=False) if sources[i.source].store == "pointer"]
    records = read_cache()
    counts = Counter(items=len(items))
    by_file: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    for item in items:
        if records.get(item.id, {}).get("sha256") == item.sha256:
            counts["cached"] += 1
        else:
            commit = item.locator.get("commit", sources[item.source].commit)
            by_file[(item.source, item.locator["path"], commit)].append(item)
    base = Path(local).expanduser() if local else None
    for (source_name, path, commit), group in sorted(by_file.items()):
        source = sources[source_name]
        try:
            text = _read_source_file(source, path, commit, base)
        except DatasetError as ex:
            counts["failed"] += len(group)
            progress(f"{source.repo}/{path}: {ex} ({len(group)} items)")
            continue
        for item in group:
            try:
                segments, context = FORMATS[source.format](text, item.locator)
            except (DatasetError, ValueError, KeyError) as ex:
                counts["failed"] += 1
                progress(f"{item.id}: {source.repo}/{path}: cannot extract: {ex}")
                continue
            if words_sha256(segments) != item.sha256:
                counts["failed"] += 1
                progress(f"{item.id}: {source.repo}/{path}: the words differ from the "
                         "labelled ones (sha256 mismatch); left out")
                continue
            records[item.id] = {"id": item.id, "sha256": item.sha256,
                                "segments": segments, "context": context}
            counts["fetched"] += 1
    write_cache(records)
    return dict(counts)


# -- the split ------------------------------------------------------------------------------

def assign_splits(items: list[Item], seed: int = SPLIT_SEED) -> dict[str, str]:
    """dev/test, stratified by source and by each item's rarest positive category.

    Within a stratum the items are shuffled with `seed` and dealt alternately, dev first,
    so every stratum is halved (an odd one gives dev the extra item)."""
    frequency = Counter(c for i in items for c, v in i.labels.items() if v)
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i.id):
        positives = [c for c, v in item.labels.items() if v]
        rarest = min(positives, key=lambda c: (frequency[c], c)) if positives else "-"
        strata[(item.source, rarest)].append(item.id)
    rng = random.Random(seed)
    split = {}
    for key in sorted(strata):
        ids = strata[key]
        rng.shuffle(ids)
        for n, item_id in enumerate(ids):
            split[item_id] = "dev" if n % 2 == 0 else "test"
    return split
