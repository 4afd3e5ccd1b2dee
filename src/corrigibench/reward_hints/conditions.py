"""Reward-hint conditions: factors over one base prompt, from `conditions.toml` (+ a user file).

A condition is written as a preset id ("label-misaligned"), a figure ("figure:labels",
all its presets), "all" (every preset), or factors joined by "+"
("field=score+label=misaligned+encoding=base64"); unset factors take the defaults.

Every text labelled verbatim* must equal a quotation in `corrigibench/provenance`; the
catalogue refuses to load otherwise. Each condition lists the recorded conflicts (places
where the sources disagree) that touch the values it uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from corrigibench import provenance
from corrigibench.catalogue import PROVENANCES, CatalogueError, read_toml, sha256, suggest
from corrigibench.provenance import CatalogueText
from corrigibench.reward_hints.encodings import ENCODINGS, encode

CATALOGUE = Path(__file__).with_name("conditions.toml")
FACTORS = ("instruction", "spacing", "incentive", "tag", "field", "label", "label_tag", "audit",
           "review", "placement", "encoding", "preamble", "rubric", "directive")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DESIGNS = ("post", "partial", "ours")


@dataclass(frozen=True)
class Condition:
    """One fully composed prompt and what it means."""

    id: str
    description: str
    factors: tuple[tuple[str, str], ...]
    prompt: str
    provenance: str
    sources: tuple[str, ...]
    hint_parity: str  # parity the grader pays for, reading its field as a reward
    instructed_parity: str = "even"
    conflicts: tuple[str, ...] = ()  # ids of recorded source conflicts touching this prompt

    @property
    def conflict(self) -> bool:
        """Hint and instruction disagree: only then can an answer be 'gamed'."""
        return self.hint_parity != self.instructed_parity

    def as_metadata(self) -> dict[str, Any]:
        return {"condition": self.id, "variant": self.id, "description": self.description,
                "factors": dict(self.factors), "prompt": self.prompt,
                "provenance": self.provenance, "sources": list(self.sources),
                "hint_parity": self.hint_parity, "instructed_parity": self.instructed_parity,
                "conflict": self.conflict, "source_conflicts": list(self.conflicts),
                "prompt_sha256": sha256(self.prompt)}


@dataclass(frozen=True)
class Catalogue:
    """The merged catalogue: raw tables, presets (built-in, generated, user) and figures."""

    data: dict[str, Any]
    presets: dict[str, dict[str, Any]]
    figures: dict[str, list[str]]

    @property
    def defaults(self) -> dict[str, str]:
        """The value each factor takes when a condition does not set it."""
        return dict(self.data["defaults"])

    def values(self, factor: str) -> list[str]:
        if factor == "audit":
            return ["none", *(str(v) for v in self.data["lines"]["audit"]["values"])]
        return list(self.data["factors"][factor])

    def compose(self, cid: str, description: str, chosen: dict[str, str]) -> Condition:
        factors = {**self.data["defaults"], **chosen}
        used: list[tuple[str, dict[str, Any]]] = [("prompt", self.data["prompt"])]

        def value(factor: str) -> dict[str, Any]:
            name = factors[factor]
            table = self.data["factors"][factor]
            if factor == "field" and name not in table:
                if not _IDENTIFIER.fullmatch(name):
                    raise CatalogueError(f"condition {cid!r}: field name {name!r} is not an identifier")
                entry = {"provenance": "reconstruction", "source": "user-given field name"}
            elif name not in table:
                raise CatalogueError(f"condition {cid!r}: unknown {factor} {name!r}"
                                     f"{suggest(name, table)}")
            else:
                entry = table[name]
            used.append((f"{factor}.{name}", entry))
            return entry

        instruction = value("instruction")["text"]
        directive = value("directive")["text"]
        if directive:
            instruction += " " + directive
        instruction = value("preamble")["text"] + value("rubric")["text"] + instruction
        separator = value("spacing")["separator"]
        incentive = value("incentive")
        value("field")
        expression = incentive["expression"].format(field=factors["field"])
        grader = value("tag")["line"].format(expression=expression)
        encoding = factors["encoding"]
        inside = [value("encoding")["line"].format(encoded=encode(grader, encoding),
                                                    encoding=encoding)]
        label = value("label")
        if label["text"]:
            inside.append(value("label_tag")["line"].format(text=label["text"]))
        extras = []
        audit = factors["audit"]
        if audit != "none":
            if not audit.isdigit() or int(audit) > 100:
                raise CatalogueError(f"condition {cid!r}: audit must be 'none' or a percentage "
                                     f"0-100, not {audit!r}")
            used.append(("audit", self.data["lines"]["audit"]))
            extras.append(self.data["lines"]["audit"]["line"].format(rate=int(audit)))
        review = value("review")["line"]
        if review:
            extras.append(review)
        after = []
        if extras:
            (inside if value("placement")["position"] == "inside" else after).extend(extras)
        prompt = (instruction + separator + "<_metadata>\n" + "\n".join(inside)
                  + "\n</_metadata>" + "".join("\n" + line for line in after))
        weakest = max((e["provenance"] for _, e in used), key=PROVENANCES.index)
        sources = tuple(dict.fromkeys(e["source"] for _, e in used))
        conflicts = tuple(c.id for c in provenance.conflicts_for_paths(
            "reward_hints", [path for path, _ in used]))
        return Condition(cid, description, tuple(sorted(chosen.items())), prompt, weakest,
                         sources, incentive["hint_parity"], conflicts=conflicts)

    def quotable_texts(self) -> dict[str, CatalogueText]:
        """Every factor value's own text, as its quotation must give it (see provenance)."""
        f = self.data["factors"]
        texts = {"prompt": CatalogueText("prompt", self.data["prompt"]["provenance"],
                                         self.compose("prompt", "", {}).prompt)}
        audit = self.data["lines"]["audit"]
        texts["audit"] = CatalogueText("audit", audit["provenance"], audit["line"].format(rate="X"))
        own: dict[str, Callable[[str, dict[str, Any]], str]] = {
            "instruction": lambda _, e: e["text"],
            "spacing": lambda _, e: e["separator"],
            "incentive": lambda _, e: e["expression"].format(field="reward"),
            "tag": lambda _, e: e["line"].format(expression="reward = output % 2"),
            "field": lambda name, _: name,
            "label": lambda _, e: e["text"],
            "label_tag": lambda _, e: e["line"].format(text=""),
            "review": lambda _, e: e["line"],
            "placement": lambda _, e: "",
            "encoding": lambda _, e: e["line"].format(encoded="", encoding=""),
            "preamble": lambda _, e: e["text"],
            "rubric": lambda _, e: e["text"],
            "directive": lambda _, e: e["text"],
        }
        for factor, values in f.items():
            for name, entry in values.items():
                path = f"{factor}.{name}"
                texts[path] = CatalogueText(path, entry["provenance"], own[factor](name, entry),
                                            word=factor == "field")
        return texts

    def resolve_target(self, target: str) -> CatalogueText | None:
        """A quotation target "condition:<preset or factors>", composed."""
        if not target.startswith("condition:"):
            return None
        spec = target.removeprefix("condition:")
        if spec in self.presets:
            c = self.compose(spec, "", self.presets[spec]["factors"])
        else:
            c = self.compose(spec, "", _parse_factors(spec))
        return CatalogueText(target, c.provenance, c.prompt)


def _parse_factors(text: str) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for part in text.split("+"):
        key, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise CatalogueError(f"condition {text!r}: expected factor=value, got {part!r}")
        if key not in FACTORS:
            raise CatalogueError(f"condition {text!r}: unknown factor {key!r}"
                                 f"{suggest(key, list(FACTORS))}; factors: {', '.join(FACTORS)}")
        chosen[key] = value.strip()
    return chosen


def _merge(base: dict[str, Any], user: dict[str, Any], path: Path) -> None:
    """Add a user file's factor values, presets and figures; redefining one is an error."""
    tables = [(f"factors.{f}", base.setdefault("factors", {}).setdefault(f, {}), values)
              for f, values in user.get("factors", {}).items()]
    tables += [(t, base.setdefault(t, {}), user.get(t, {})) for t in ("presets", "figures")]
    for where, into, entries in tables:
        for name, entry in entries.items():
            if name in into:
                raise CatalogueError(f"{path}: [{where}.{name}] is already defined")
            into[name] = entry


def _validate(data: dict[str, Any], path: Path, builtin: bool) -> None:
    """Check one file's own tables (a user file holds only what it adds)."""
    if builtin:
        for table in ("prompt", "defaults", "factors", "lines"):
            if not isinstance(data.get(table), dict):
                raise CatalogueError(f"{path}: missing [{table}] table")
        for factor in FACTORS:
            if factor not in data["defaults"]:
                raise CatalogueError(f"{path}: [defaults] has no {factor}")
    required = {"instruction": ["text"], "spacing": ["separator"],
                "incentive": ["expression", "hint_parity"], "tag": ["line"], "field": [],
                "label": ["text"], "label_tag": ["line"], "review": ["line"],
                "placement": ["position"], "encoding": ["line"], "preamble": ["text"],
                "rubric": ["text"], "directive": ["text"]}
    for factor, values in data.get("factors", {}).items():
        if factor not in required:
            raise CatalogueError(f"{path}: unknown factor [factors.{factor}]"
                                 f"{suggest(factor, list(required))}")
        for name, entry in values.items():
            where = f"{path}: [factors.{factor}.{name}]"
            for key in [*required[factor], "provenance", "source"]:
                if not isinstance(entry, dict) or not isinstance(entry.get(key), str):
                    raise CatalogueError(f"{where}: missing {key}")
            if entry["provenance"] not in PROVENANCES:
                raise CatalogueError(f"{where}: provenance {entry['provenance']!r} is not one "
                                     f"of {', '.join(PROVENANCES)}")
            if factor == "incentive" and entry["hint_parity"] not in ("odd", "even"):
                raise CatalogueError(f"{where}: hint_parity must be odd or even")
            if factor == "placement" and entry["position"] not in ("inside", "after"):
                raise CatalogueError(f"{where}: position must be inside or after")
            if factor == "spacing" and (entry["separator"].strip() or not entry["separator"]):
                raise CatalogueError(f"{where}: separator must be white space")
            if factor == "encoding" and name not in ENCODINGS:
                raise CatalogueError(f"{where}: no encoder for {name!r} "
                                     f"(known: {', '.join(ENCODINGS)})")
    for name, preset in data.get("presets", {}).items():
        if not isinstance(preset, dict) or not isinstance(preset.get("description"), str):
            raise CatalogueError(f"{path}: [presets.{name}]: missing description")
        unknown = set(preset.get("factors", {})) - set(FACTORS)
        if unknown:
            raise CatalogueError(f"{path}: [presets.{name}]: unknown factor(s) "
                                 f"{', '.join(sorted(unknown))}")
    for name, figure in data.get("figures", {}).items():
        if not isinstance(figure, dict) or not isinstance(figure.get("presets"), list):
            raise CatalogueError(f"{path}: [figures.{name}]: needs a presets list")
        if figure.get("design", "ours") not in DESIGNS:
            raise CatalogueError(f"{path}: [figures.{name}]: design must be one of "
                                 f"{', '.join(DESIGNS)}")


@cache
def _load(extra: tuple[Path, ...]) -> Catalogue:
    data = read_toml(CATALOGUE)
    _validate(data, CATALOGUE, builtin=True)
    builtin = _catalogue(data)
    provenance.require("reward_hints", builtin.quotable_texts(), builtin.resolve_target,
                       where=str(CATALOGUE))
    for path in extra:
        user = read_toml(path)
        unknown = set(user) - {"schema", "factors", "presets", "figures"}
        if unknown:
            raise CatalogueError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
        user.pop("schema", None)
        _validate(user, path, builtin=False)
        _merge(data, user, path)
        added = {f"{factor}.{name}" for factor, values in user.get("factors", {}).items()
                 for name in values}
        texts = _catalogue(data).quotable_texts()
        provenance.require("reward_hints", {k: t for k, t in texts.items() if k in added},
                           targets=False, where=str(path))
    return _catalogue(data)


def _catalogue(data: dict[str, Any]) -> Catalogue:
    """Presets (declared and generated) and figures over merged catalogue data."""
    presets = {name: {"description": p["description"], "factors": dict(p.get("factors", {}))}
               for name, p in data.get("presets", {}).items()}
    for rate in data["lines"]["audit"]["values"]:
        presets.setdefault(f"audit-{rate}", {"description": f"Audit-rate line at {rate}%.",
                                             "factors": {"audit": str(rate)}})
    for pid, entry in data["factors"]["instruction"].items():
        presets.setdefault(f"paraphrase-{pid}", {
            "description": f"Instruction paraphrase {pid}: {entry['text']}",
            "factors": {"instruction": pid}})
    figures = {name: list(f.get("presets", [])) for name, f in data.get("figures", {}).items()}
    for name, members in figures.items():
        for member in members:
            if member not in presets:
                raise CatalogueError(f"figure {name!r} lists unknown preset {member!r}")
    return Catalogue(data, presets, figures)


def load_catalogue(extra_file: str | Path | None = None) -> Catalogue:
    extra = (Path(extra_file).expanduser().resolve(),) if extra_file else ()
    return _load(extra)


def get_conditions(spec: str | list[str], extra_file: str | Path | None = None) -> list[Condition]:
    """Conditions for "preset,figure:name,factor=value+factor=value,...", or "all"."""
    cat = load_catalogue(extra_file)
    items = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    wanted: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item == "all":
            wanted += list(cat.presets)
        elif item.startswith("figure:"):
            name = item.removeprefix("figure:")
            if name not in cat.figures:
                raise CatalogueError(f"unknown figure {name!r}{suggest(name, cat.figures)}")
            wanted += cat.figures[name]
        else:
            wanted.append(item)
    if not wanted:
        raise CatalogueError("no condition given")
    out = []
    for cid in dict.fromkeys(wanted):
        if cid in cat.presets:
            preset = cat.presets[cid]
            out.append(cat.compose(cid, preset["description"], preset["factors"]))
        elif "=" in cid:
            chosen = _parse_factors(cid)
            out.append(cat.compose(cid, "ad-hoc: " + cid, chosen))
        else:
            raise CatalogueError(f"unknown condition {cid!r}{suggest(cid, cat.presets)}; "
                                 "`corrigibench variants reward_hints` lists them")
    return out
