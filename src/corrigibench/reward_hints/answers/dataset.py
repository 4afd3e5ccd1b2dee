"""Real final answers to the odd-number prompt, hand-labelled, to measure the answer rule.

`answers.jsonl` (beside this file) holds one row per answer: where it comes from (repository,
commit, path, record), the model and its family, the prompt condition, the source's licence,
the sha256 of the answer text, the hand label (GUIDELINES.md) and the dev/test split.

The texts themselves are not stored here: no source states a licence that allows copying.
`fetch()` rebuilds them from the sources at the pinned commits (from GitHub, or from local
checkouts) into a cache outside the repository, and checks every text against its sha256.
`python -m corrigibench.reward_hints.answers fetch` does that from the command line;
`... score --split dev` scores the answer rule on the cached texts.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import re
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from corrigibench.errors import InputError

HERE = Path(__file__).parent
ROWS_FILE = HERE / "answers.jsonl"
SPLIT_SEED = 11
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

# What each source allows. Neither repository has a licence file or a licence statement in
# its README (checked at the commits cited), so by default no rights are granted: we keep
# pointers and hashes, never the texts.
LICENCES = {
    "shanpandya/odd-number-forensics": "none stated (all rights reserved): pointer only",
    "ekhadley/odd-number-hacking": "none stated (all rights reserved): pointer only",
}


class AnswersError(InputError):
    """A source file or the cache does not hold what a row points to."""


@dataclass(frozen=True)
class Row:
    id: str
    repo: str
    commit: str
    path: str
    format: str
    record: int
    model: str
    family: str
    condition: str
    licence: str
    sha256: str
    label: str  # an integer as text, "ambiguous" or "none"
    split: str  # "dev" or "test"
    note: str = ""
    text: str | None = None  # from the cache ("" for null content); None: not fetched

    @property
    def gold(self) -> int | str:
        return int(self.label) if re.fullmatch(r"-?\d+", self.label) else self.label


def row_id(repo: str, commit: str, path: str, record: int) -> str:
    return f"{repo}@{commit[:7]}:{path}#{record}"


def text_sha256(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def family(model: str) -> str:
    vendor = model.split("/", 1)[0]
    return {"moonshotai": "moonshot", "x-ai": "xai"}.get(vendor, vendor)


# --- extracting one answer text from a source file, per format -------------------------

def _ekhadley_json(content: str, record: int) -> str | None:
    """ekhadley/odd-number-hacking results/*.json: `results[i]` is either a compact record
    with `answer`, or a raw OpenRouter completion (`choices[0].message.content`)."""
    result = json.loads(content)["results"][record]
    if "answer" in result:
        return result["answer"]
    return result["choices"][0]["message"]["content"]


_MD_SAMPLE = re.compile(r"^## sample (\d+) — ", re.M)


def _shanpandya_md(content: str, record: int) -> str | None:
    """shanpandya/odd-number-forensics transcripts_md/*.md (odd_number/render.py): each
    sample's answer is written verbatim between `**Answer:**\\n\\n` and `\\n\\n---\\n`."""
    starts = [(int(m.group(1)), m.start()) for m in _MD_SAMPLE.finditer(content)]
    for i, (sample, start) in enumerate(starts):
        if sample == record:
            end = starts[i + 1][1] if i + 1 < len(starts) else len(content)
            section = content[start:end]
            head, sep, tail = section.partition("**Answer:**\n\n")
            if not sep:
                return None
            return tail[: tail.rindex("\n\n---\n")]
    raise AnswersError(f"no sample {record}")


_LAYER1 = re.compile(r"^--- sample +(\d+) \|[^\n]*\n    (.*)$", re.M)


def _shanpandya_layer1(content: str, record: int) -> str | None:
    """shanpandya/odd-number-forensics transcripts_md/layer1_answers.md: each answer as a
    Python string literal on the line after `--- sample N | ...`."""
    for sample, literal in _LAYER1.findall(content):
        if int(sample) == record:
            return ast.literal_eval(literal)
    raise AnswersError(f"no sample {record}")


def _shanpandya_jsonl(content: str, record: int) -> str | None:
    """shanpandya/odd-number-forensics results/*.jsonl: line i's `text`."""
    return json.loads(content.splitlines()[record])["text"]


EXTRACTORS: dict[str, Callable[[str, int], str | None]] = {
    "ekhadley-json": _ekhadley_json,
    "shanpandya-md": _shanpandya_md,
    "shanpandya-layer1": _shanpandya_layer1,
    "shanpandya-jsonl": _shanpandya_jsonl,
}


# --- rows, cache, fetch -----------------------------------------------------------------

def default_cache() -> Path:
    base = os.environ.get("CORRIGIBENCH_ANSWERS_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) \
        / "corrigibench" / "reward-hint-answers.jsonl"


def load(cache: Path | None = None, rows_file: Path = ROWS_FILE) -> list[Row]:
    """The rows, each with its text from the cache when the cache has a verified copy."""
    texts: dict[str, str | None] = {}
    cache = cache or default_cache()
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts[item["id"]] = item["text"]
    rows = []
    for line in rows_file.read_text(encoding="utf-8").splitlines():
        row = Row(**json.loads(line))
        if row.id in texts and text_sha256(texts[row.id]) == row.sha256:
            row = Row(**{**row.__dict__, "text": texts[row.id] or ""})  # null content: ""
        rows.append(row)
    return rows


def fetch(cache: Path | None = None, checkouts: Path | None = None,
          rows_file: Path = ROWS_FILE,
          reader: Callable[[str, str, str], str] | None = None) -> tuple[int, list[str]]:
    """Rebuild every row's text from its source and write the verified ones to the cache.

    Args:
      cache: Where to write (default `default_cache()`).
      checkouts: A directory holding `<owner>+<name>/<path>` checkouts at the cited commits;
        without it, files are downloaded from GitHub at the pinned commit.
      rows_file: The rows to rebuild.
      reader: `(repo, commit, path) -> content`, to override both (tests).

    Returns:
      (number of texts written, one message per row that could not be rebuilt).
    """
    rows = [Row(**json.loads(line)) for line in rows_file.read_text().splitlines()]
    read = reader or (lambda repo, commit, path: _read(repo, commit, path, checkouts))
    contents: dict[tuple[str, str, str], str] = {}
    written, problems = [], []
    for row in rows:
        key = (row.repo, row.commit, row.path)
        try:
            if key not in contents:
                contents[key] = read(*key)
            text = EXTRACTORS[row.format](contents[key], row.record)
        except Exception as ex:  # one line per bad row, never a traceback
            problems.append(f"{row.id}: {type(ex).__name__}: {ex}")
            continue
        if text_sha256(text) != row.sha256:
            problems.append(f"{row.id}: text does not match its sha256")
            continue
        written.append({"id": row.id, "text": text})
    cache = cache or default_cache()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in written),
                   encoding="utf-8")
    tmp.replace(cache)
    return len(written), problems


def _read(repo: str, commit: str, path: str, checkouts: Path | None) -> str:
    if checkouts is not None:
        return (checkouts / repo.replace("/", "+") / path).read_text(encoding="utf-8")
    url = RAW_URL.format(repo=repo, commit=commit, path=path)
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed host)
        return response.read().decode("utf-8")


def assign_splits(rows: Iterable[dict], seed: int = SPLIT_SEED) -> None:
    """Half of each (source, family) stratum to dev, half to test, fixed by the seed.

    Strata are shuffled with their own seeded generator and dealt alternately, starting
    with dev, so an odd stratum gives dev the extra row.
    """
    strata: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        strata.setdefault((row["repo"], row["family"]), []).append(row)
    for key in sorted(strata):
        members = sorted(strata[key], key=lambda r: r["id"])
        random.Random(f"{seed}:{key[0]}:{key[1]}").shuffle(members)
        for i, row in enumerate(members):
            row["split"] = "dev" if i % 2 == 0 else "test"
