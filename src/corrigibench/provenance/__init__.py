"""Where every catalogue text comes from, checked by machine: sources, quotations, conflicts.

Three TOML files beside this module:

- `sources.toml`: every document the catalogues cite, by key (repository, path and commit,
  or URL and date), its kind (primary, secondary, reconstruction) and its licence.
- `quotations.toml`: the exact words a source gives for a catalogue text. A quotation is one
  or more pieces (each an exact excerpt of one source, with who it quotes), joined by a
  space; it names the catalogue texts it targets and how it must match them: `equal` or
  `exact` (the whole text), `contains` (a verbatim fragment inside a reconstruction), `word`
  (a single word such as a field name, found in a quoted sentence).
- `conflicts.toml`: places where sources disagree, with every reading, the one chosen and
  why. A conflict is anchored to catalogue texts (shutdown: a passage a field contains;
  reward hints: a factor or factor value) so each condition can count its open conflicts.

The rules `check` enforces (and each catalogue enforces when it loads):

1. Every text labelled `verbatim` or `verbatim-via-secondary` equals (whitespace-normalised)
   some `equal`/`exact` quotation, or is a word its `word` quotation targets. A `verbatim`
   label needs a quotation made only of primary pieces; a quotation with a piece from a
   third party's re-implementation backs neither label.
2. Every target a quotation names exists and matches it.
3. Every piece cites known sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from corrigibench.catalogue import CatalogueError, read_toml

HERE = Path(__file__).parent
VERBATIM = ("verbatim", "verbatim-via-secondary")
KINDS = ("primary", "secondary", "reconstruction")
MATCHES = ("equal", "exact", "contains", "word")
STATUSES = ("open", "resolved")


def normalise(text: str) -> str:
    """Whitespace-normalised text: runs of white space become one space, ends stripped."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Source:
    key: str
    kind: str
    title: str
    where: str  # repository, path and commit; or URL and date; or the stored copy


@dataclass(frozen=True)
class Piece:
    source: str
    quotes: tuple[str, ...]  # who the source quotes, nearest first
    where: str
    text: str


@dataclass(frozen=True)
class Quotation:
    id: str
    environment: str
    targets: tuple[str, ...]
    match: str
    pieces: tuple[Piece, ...]

    @property
    def text(self) -> str:
        if self.match == "exact":
            return "".join(p.text for p in self.pieces)
        return " ".join(p.text for p in self.pieces)


@dataclass(frozen=True)
class Reading:
    reading: str
    value: str  # the catalogue value or variant that selects this reading ("" if none)
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Conflict:
    id: str
    environment: str
    status: str
    about: str
    anchors: tuple[dict[str, Any], ...]
    readings: tuple[Reading, ...]
    chosen: str
    why: str

    def applies_to_fields(self, fields: dict[str, str]) -> bool:
        """Shutdown: does any anchored passage occur in the named field?"""
        for anchor in self.anchors:
            text = normalise(fields.get(anchor.get("field", ""), ""))
            if any(normalise(p) in text for p in _alternatives(anchor)):
                return True
        return False

    def applies_to_paths(self, paths: Iterable[str]) -> bool:
        """Reward hints: does a condition use an anchored factor (value)?"""
        marks = [a["entry"] for a in self.anchors if "entry" in a]
        return any(p == m or p.startswith(m + ".") for p in paths for m in marks)


@dataclass(frozen=True)
class Provenance:
    sources: dict[str, Source]
    quotations: tuple[Quotation, ...]
    conflicts: dict[str, Conflict]

    def level(self, q: Quotation) -> str:
        """The strongest label a quotation supports (a re-implementation supports none)."""
        kinds = {self.sources[p.source].kind for p in q.pieces}
        if "reconstruction" in kinds:
            return "reconstruction"
        return "verbatim" if kinds == {"primary"} else "verbatim-via-secondary"


@dataclass(frozen=True)
class CatalogueText:
    """One text of a catalogue, as the provenance check sees it."""

    target: str
    provenance: str
    text: str
    word: bool = False  # a single word (a field name), quoted inside a sentence


def _alternatives(anchor: dict[str, Any]) -> list[str]:
    found = anchor.get("contains", [])
    return [found] if isinstance(found, str) else list(found)


def _strs(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{where}: {key} must be a string or a list of strings")
    return tuple(value)


def _need(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: missing {key}")
    return value


@cache
def load() -> Provenance:
    """The three provenance files, validated."""
    data = read_toml(HERE / "sources.toml")
    sources = {}
    for key, s in data.get("sources", {}).items():
        where = f"{HERE / 'sources.toml'}: [sources.{key}]"
        kind = _need(s, "kind", where)
        if kind not in KINDS:
            raise CatalogueError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        location = "; ".join(str(s[k]) for k in ("repo", "path", "commit", "url", "date", "copy")
                             if k in s)
        if not location:
            raise CatalogueError(f"{where}: needs repo/path/commit, url/date or copy")
        sources[key] = Source(key, kind, _need(s, "title", where), location)

    path = HERE / "quotations.toml"
    quotations = []
    for i, q in enumerate(read_toml(path).get("quotations", [])):
        where = f"{path}: quotation {q.get('id', i + 1)!r}"
        match = q.get("match", "equal")
        if match not in MATCHES:
            raise CatalogueError(f"{where}: match {match!r} is not one of {', '.join(MATCHES)}")
        pieces = []
        for p in q.get("pieces", []):
            source = _need(p, "source", where)
            quotes = _strs(p.get("quotes", []), where, "quotes")
            for key in (source, *quotes):
                if key not in sources:
                    raise CatalogueError(f"{where}: unknown source {key!r} (see sources.toml)")
            if not isinstance(p.get("text"), str) or not p["text"]:
                raise CatalogueError(f"{where}: a piece has no text")
            pieces.append(Piece(source, quotes, p.get("where", ""), p["text"]))
        if not pieces:
            raise CatalogueError(f"{where}: no pieces")
        quotations.append(Quotation(_need(q, "id", where), _need(q, "environment", where),
                                    _strs(q.get("targets", []), where, "targets"), match,
                                    tuple(pieces)))
    ids = [q.id for q in quotations]
    if len(ids) != len(set(ids)):
        raise CatalogueError(f"{path}: duplicate quotation id(s)")

    path = HERE / "conflicts.toml"
    conflicts = {}
    for c in read_toml(path).get("conflicts", []):
        where = f"{path}: conflict {c.get('id', '?')!r}"
        status = _need(c, "status", where)
        if status not in STATUSES:
            raise CatalogueError(f"{where}: status must be open or resolved")
        readings = []
        for r in c.get("readings", []):
            keys = _strs(r.get("sources", []), where, "sources")
            for key in keys:
                if key not in sources:
                    raise CatalogueError(f"{where}: unknown source {key!r}")
            readings.append(Reading(_need(r, "reading", where), r.get("value", ""), keys))
        if len(readings) < 2:
            raise CatalogueError(f"{where}: a conflict needs at least two readings")
        anchors = tuple(c.get("anchors", []))
        if not anchors:
            raise CatalogueError(f"{where}: no anchors")
        conflict = Conflict(_need(c, "id", where), _need(c, "environment", where), status,
                            _need(c, "about", where), anchors, tuple(readings),
                            _need(c, "chosen", where), _need(c, "why", where))
        if conflict.id in conflicts:
            raise CatalogueError(f"{where}: defined twice")
        conflicts[conflict.id] = conflict
    return Provenance(sources, tuple(quotations), conflicts)


def _matches(q: Quotation, t: CatalogueText) -> bool:
    if q.match == "exact":
        return q.text == t.text
    if q.match == "equal":
        return normalise(q.text) == normalise(t.text)
    if q.match == "contains":
        return normalise(q.text) in normalise(t.text)
    return re.search(rf"(?<![\w-]){re.escape(t.text)}(?![\w-])", q.text) is not None


def _difference(quoted: str, text: str, exact: bool = False) -> str:
    a, b = (quoted, text) if exact else (normalise(quoted), normalise(text))
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    lo, hi = max(0, i - 20), i + 20
    return f"they differ at {a[lo:hi]!r} (quotation) vs {b[lo:hi]!r}"


def check(environment: str, texts: dict[str, CatalogueText],
          resolve: Callable[[str], CatalogueText | None] | None = None,
          targets: bool = True) -> list[str]:
    """Every problem with one environment's texts against the quotations, one line each.

    Args:
      environment: "shutdown" or "reward_hints".
      texts: The catalogue's texts by target name.
      resolve: Finds a target not in `texts` (a composed condition), or returns None.
      targets: Also check that every quotation's targets exist and match. False checks
        only that the given texts' labels are backed (for texts from a user file).
    """
    prov = load()
    problems = []
    mine = [q for q in prov.quotations if q.environment == environment]
    for q in mine if targets else []:
        for target in q.targets:
            t = texts.get(target) or (resolve(target) if resolve else None)
            if t is None:
                problems.append(f"{environment}: quotation {q.id!r} targets unknown text "
                                f"{target!r}")
            elif not _matches(q, t):
                problems.append(f"{environment}: {target} does not match quotation {q.id!r} "
                                f"({q.match}): {_difference(q.text, t.text, q.match == 'exact')}")
    for target, t in texts.items():
        if t.provenance not in VERBATIM or not normalise(t.text):
            continue
        if t.word:
            found = [q for q in mine if q.match == "word" and target in q.targets
                     and _matches(q, t)]
        else:
            found = [q for q in mine if q.match in ("equal", "exact") and _matches(q, t)]
        backed = [q for q in found if prov.level(q) != "reconstruction"]
        if found and not backed:
            problems.append(f"{environment}: {target} is labelled {t.provenance!r} but only a "
                            "third party's re-implementation gives this text: label it "
                            "'reconstruction'")
        elif not found:
            problems.append(f"{environment}: {target} is labelled {t.provenance!r} but no "
                            "quotation in provenance/quotations.toml gives this text; add one, "
                            "or label it 'reconstruction'")
        elif t.provenance == "verbatim" and all(prov.level(q) != "verbatim" for q in backed):
            problems.append(f"{environment}: {target} is labelled 'verbatim' but its quotations "
                            "reach the authors only through a third party: label it "
                            "'verbatim-via-secondary'")
    return problems


def require(environment: str, texts: dict[str, CatalogueText],
            resolve: Callable[[str], CatalogueText | None] | None = None,
            targets: bool = True, where: str = "") -> None:
    """Raise one CatalogueError naming the first problems (and `where`), if there are any."""
    problems = check(environment, texts, resolve, targets)
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        raise CatalogueError((f"{where}: " if where else "") + "; ".join(problems[:2]) + more)


def conflicts_for_fields(environment: str, fields: dict[str, str]) -> list[Conflict]:
    """The conflicts whose anchored passages occur in these texts (shutdown)."""
    return [c for c in load().conflicts.values()
            if c.environment == environment and c.applies_to_fields(fields)]


def conflicts_for_paths(environment: str, paths: Iterable[str]) -> list[Conflict]:
    """The conflicts anchored to any of these factor values (reward hints)."""
    paths = list(paths)
    return [c for c in load().conflicts.values()
            if c.environment == environment and c.applies_to_paths(paths)]


def cited_keys(text: str) -> list[str]:
    """Source keys cited in a `source`/`notes` string as "[key]"."""
    return re.findall(r"\[([a-z][a-z0-9-]*)\]", text)
