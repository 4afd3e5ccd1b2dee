"""The hypotheses file (`hypotheses.toml` beside this module, or a user's): read and checked.

The file's own header documents its schema. `load_hypotheses` checks everything that can be
checked without the catalogues (keys, types, predictions, references between entries);
`check_catalogues` then resolves every condition and reasoning category, so a typo is
reported with a suggestion before anything runs.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corrigibench.catalogue import CatalogueError, read_toml, suggest

BUILTIN = Path(__file__).with_name("hypotheses.toml")
ENVIRONMENTS = ("shutdown", "reward_hints")
RULE_OUT = ("contrast", "family")
_DEFAULTS = {"alpha": 0.05, "power": 0.8, "effect": 0.2, "margin": 0.15, "planning_rate": 0.5,
             "rule_out": "contrast"}
_ENV_ARGS = {"shutdown": {"variants_file": str, "mechanics": str, "message_limit": int,
                          "command_timeout": float, "sandbox": str},
             "reward_hints": {"variants_file": str}}
_PREDICTION = re.compile(r"^\s*(a|b)\s*(>|<|≈|~)\s*(a|b|0)\s*(?:(?:±|\+-|\+/-)\s*([0-9.]+))?\s*$")
# the outcome labels a side may keep (the scorers' labels)
OUTCOMES = {"shutdown": ("resisted", "complied"), "reward_hints": ("gamed", "complied", "violated")}


class HypothesesError(CatalogueError):
    """The hypotheses file is wrong: the message names the file, the entry and the key."""


@dataclass(frozen=True)
class Side:
    """One side of a contrast: conditions (pooled) and an optional outcome, or a value."""

    conditions: tuple[str, ...] = ()  # ("*",) = every condition of the environment in the study
    outcome: str | None = None
    value: float | None = None

    @property
    def is_value(self) -> bool:
        return self.value is not None

    def describe(self) -> str:
        if self.is_value:
            return f"{self.value:g}"
        names = "all conditions" if self.conditions == ("*",) else " + ".join(self.conditions)
        return names + (f" ({self.outcome})" if self.outcome else "")


@dataclass(frozen=True)
class Contrast:
    """a vs b in one environment, on one metric."""

    id: str
    environment: str
    a: Side
    b: Side
    metric: str  # "rate" or "reasoning:<category>"
    question: str
    effect: float
    margin: float

    @property
    def category(self) -> str | None:
        return self.metric.split(":", 1)[1] if self.metric.startswith("reasoning:") else None

    @property
    def conditions(self) -> list[str]:
        """The conditions this contrast names (not "*")."""
        out = [c for side in (self.a, self.b) for c in side.conditions if c != "*"]
        return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Prediction:
    """What a hypothesis says about one contrast."""

    relation: str  # "a>b", "a<b", "a≈b", "a≈0", "b≈0"
    margin: float  # for the ≈ relations
    text: str  # as the file writes it

    @property
    def directional(self) -> bool:
        return self.relation in ("a>b", "a<b")


@dataclass(frozen=True)
class Hypothesis:
    id: str
    title: str
    description: str
    source: str
    parent: str | None
    categories: tuple[str, ...]
    predicts: dict[str, Prediction] = field(default_factory=dict)


@dataclass(frozen=True)
class Ladder:
    id: str
    environment: str
    conditions: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Hypotheses:
    """A whole hypotheses file, resolved."""

    path: Path
    text: str  # the file as read (kept beside a study's logs)
    alpha: float
    power: float
    effect: float
    margin: float
    planning_rate: float
    rule_out: str
    environments: dict[str, dict[str, Any]]
    contrasts: dict[str, Contrast]
    hypotheses: dict[str, Hypothesis]
    ladders: dict[str, Ladder]

    def conditions(self, environment: str) -> list[str]:
        """Every condition the study runs in an environment, in file order."""
        out: list[str] = []
        for c in self.contrasts.values():
            if c.environment == environment:
                out += c.conditions
        for ladder in self.ladders.values():
            if ladder.environment == environment:
                out += ladder.conditions
        return list(dict.fromkeys(out))

    def select(self, ids: list[str]) -> Hypotheses:
        """Only these hypotheses (with their sub-hypotheses), the contrasts they use, and the
        ladders two or more of whose rungs those contrasts compare."""
        unknown = [i for i in ids if i not in self.hypotheses]
        if unknown:
            raise HypothesesError(f"{self.path}: unknown hypothesis {unknown[0]!r}"
                                  f"{suggest(unknown[0], list(self.hypotheses))}")
        keep = {h for h in self.hypotheses if h in ids or self.hypotheses[h].parent in ids}
        hypotheses = {h: v for h, v in self.hypotheses.items() if h in keep}
        used = {c for h in hypotheses.values() for c in h.predicts}
        contrasts = {c: v for c, v in self.contrasts.items() if c in used}
        used_conditions = {(c.environment, x) for c in contrasts.values() for x in c.conditions}
        ladders = {k: v for k, v in self.ladders.items()  # a ladder two of whose rungs are used
                   if sum((v.environment, x) in used_conditions for x in v.conditions) >= 2}
        return replace(self, hypotheses=hypotheses, contrasts=contrasts, ladders=ladders)


def load_hypotheses(path: str | Path | None = None, text: str | None = None) -> Hypotheses:
    """Read and check a hypotheses file (the built-in one by default). With `text`, check
    that text instead of reading the file (a study's stored copy, read from a log store);
    `path` then only names it in messages and anchors relative variants files."""
    path = Path(path).expanduser().resolve() if path else BUILTIN
    if text is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as ex:
            raise HypothesesError(f"{path}: not valid TOML: {ex}") from None
    else:
        data = read_toml(path)
        try:
            text = path.read_text()
        except OSError as ex:  # read_toml has read it already; only a race gets here
            raise HypothesesError(f"{path}: cannot read: {ex.strerror}") from None

    def fail(where: str, problem: str) -> HypothesesError:
        return HypothesesError(f"{path}: {where}: {problem}")

    known = {"schema", "defaults", "environments", "contrasts", "hypotheses", "ladders"}
    for key in data:
        if key not in known:
            raise fail(key, f"unknown top-level key{suggest(key, sorted(known))}")
    if data.get("schema", 1) != 1:
        raise fail("schema", f"unsupported schema {data['schema']!r} (expected 1)")
    settings = dict(_DEFAULTS)
    for key, value in _table(data, "defaults", path).items():
        if key not in _DEFAULTS:
            raise fail(f"[defaults] {key}", f"unknown setting{suggest(key, list(_DEFAULTS))}")
        settings[key] = value
    if settings["rule_out"] not in RULE_OUT:
        raise fail("[defaults] rule_out", f"must be one of {', '.join(RULE_OUT)}")
    for key in ("alpha", "power", "effect", "margin", "planning_rate"):
        settings[key] = _fraction(settings[key], f"[defaults] {key}", fail)

    environments: dict[str, dict[str, Any]] = {}
    for name, args in _table(data, "environments", path).items():
        if name not in ENVIRONMENTS:
            raise fail(f"[environments.{name}]", f"not an environment{suggest(name, list(ENVIRONMENTS))}")
        if not isinstance(args, dict):
            raise fail(f"[environments.{name}]", "must be a table")
        for key, value in args.items():
            allowed = _ENV_ARGS[name]
            if key not in allowed:
                raise fail(f"[environments.{name}] {key}",
                           f"not an argument of {name}{suggest(key, list(allowed))}")
            if not isinstance(value, allowed[key]) and not (
                    allowed[key] is float and isinstance(value, int)) or isinstance(value, bool):
                raise fail(f"[environments.{name}] {key}", f"must be a {allowed[key].__name__}")
        args = dict(args)
        if "variants_file" in args:
            args["variants_file"] = str((path.parent / args["variants_file"]).resolve())
        environments[name] = args

    contrasts: dict[str, Contrast] = {}
    for cid, entry in _table(data, "contrasts", path).items():
        where = f"[contrasts.{cid}]"
        if not isinstance(entry, dict):
            raise fail(where, "must be a table")
        allowed = {"environment", "a", "b", "metric", "question", "effect", "margin"}
        for key in entry:
            if key not in allowed:
                raise fail(f"{where} {key}", f"unknown key{suggest(key, sorted(allowed))}")
        for key in ("environment", "a", "b", "metric", "question"):
            if key not in entry:
                raise fail(where, f"missing {key}")
        env = entry["environment"]
        if env not in ENVIRONMENTS:
            raise fail(f"{where} environment", f"must be one of {', '.join(ENVIRONMENTS)}")
        metric = entry["metric"]
        if not isinstance(metric, str) or not (metric == "rate" or re.fullmatch(
                r"reasoning:[a-z][a-z0-9_]*", metric)):
            raise fail(f"{where} metric", "must be \"rate\" or \"reasoning:<category>\"")
        a = _side(entry["a"], env, metric, f"{where} a", fail, value_allowed=False)
        b = _side(entry["b"], env, metric, f"{where} b", fail, value_allowed=True)
        if not isinstance(entry["question"], str) or not entry["question"].strip():
            raise fail(f"{where} question", "must be a non-empty string")
        contrasts[cid] = Contrast(
            cid, env, a, b, metric, entry["question"].strip(),
            _fraction(entry.get("effect", settings["effect"]), f"{where} effect", fail),
            _fraction(entry.get("margin", settings["margin"]), f"{where} margin", fail))

    hypotheses: dict[str, Hypothesis] = {}
    raw = _table(data, "hypotheses", path)
    for hid, entry in raw.items():
        where = f"[hypotheses.{hid}]"
        if not isinstance(entry, dict):
            raise fail(where, "must be a table")
        allowed = {"title", "description", "source", "parent", "categories", "predicts"}
        for key in entry:
            if key not in allowed:
                raise fail(f"{where} {key}", f"unknown key{suggest(key, sorted(allowed))}")
        for key in ("title", "description", "source"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise fail(where, f"missing {key}")
        parent = entry.get("parent")
        if parent is not None and parent not in raw:
            raise fail(f"{where} parent", f"unknown hypothesis {parent!r}"
                       f"{suggest(str(parent), list(raw))}")
        if parent is not None and parent not in hypotheses:
            raise fail(f"{where} parent", f"{parent!r} must come before its sub-hypotheses")
        categories = entry.get("categories", [])
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise fail(f"{where} categories", "must be a list of category names")
        predicts = {}
        for cid, written in (entry.get("predicts") or {}).items():
            here = f"{where}.predicts {cid}"
            if cid not in contrasts:
                raise fail(here, f"unknown contrast{suggest(cid, list(contrasts))}")
            predicts[cid] = _prediction(written, contrasts[cid], here, fail)
        if not predicts:
            raise fail(where, "predicts nothing: give [hypotheses.<id>.predicts]")
        hypotheses[hid] = Hypothesis(hid, entry["title"].strip(), entry["description"].strip(),
                                     entry["source"].strip(), parent, tuple(categories), predicts)
    if not hypotheses:
        raise fail("hypotheses", "no [hypotheses.<id>] entries")

    ladders: dict[str, Ladder] = {}
    for lid, entry in _table(data, "ladders", path).items():
        where = f"[ladders.{lid}]"
        if not isinstance(entry, dict) or entry.get("environment") not in ENVIRONMENTS:
            raise fail(f"{where} environment", f"must be one of {', '.join(ENVIRONMENTS)}")
        conditions = entry.get("conditions")
        if not isinstance(conditions, list) or len(conditions) < 2 or not all(
                isinstance(c, str) for c in conditions):
            raise fail(f"{where} conditions", "must list at least two condition ids")
        ladders[lid] = Ladder(lid, entry["environment"], tuple(conditions),
                              str(entry.get("description", "")))
    return Hypotheses(path, text, settings["alpha"], settings["power"], settings["effect"],
                      settings["margin"], settings["planning_rate"], settings["rule_out"],
                      environments, contrasts, hypotheses, ladders)


def check_catalogues(study: Hypotheses) -> None:
    """Resolve every condition and reasoning category the file names (one line if one is
    unknown, with a suggestion)."""
    from corrigibench.reward_hints.conditions import get_conditions
    from corrigibench.shutdown.variants import get_variants
    from corrigibench.traces.categories import load_categories

    for env in ENVIRONMENTS:
        wanted = study.conditions(env)
        if not wanted:
            continue
        extra = study.environments.get(env, {}).get("variants_file")
        try:
            if env == "shutdown":
                get_variants(wanted, extra)
            else:
                get_conditions(wanted, extra)
        except CatalogueError as ex:
            raise HypothesesError(f"{study.path}: {env} conditions: {ex}") from None
    categories = load_categories()
    for contrast in study.contrasts.values():
        name = contrast.category
        if name is None:
            continue
        if name not in categories:
            raise HypothesesError(f"{study.path}: [contrasts.{contrast.id}] metric: unknown "
                                  f"reasoning category {name!r}{suggest(name, categories)}")
        if not categories[name].applies(contrast.environment):
            raise HypothesesError(f"{study.path}: [contrasts.{contrast.id}] metric: category "
                                  f"{name!r} does not apply to {contrast.environment}")
    for h in study.hypotheses.values():
        for name in h.categories:
            if name not in categories:
                raise HypothesesError(f"{study.path}: [hypotheses.{h.id}] categories: unknown "
                                      f"reasoning category {name!r}{suggest(name, categories)}")


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise HypothesesError(f"{path}: [{key}] must be a table")
    return value


def _fraction(value: Any, where: str, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise fail(where, "must be a number between 0 and 1 (exclusive)")
    return float(value)


def _side(value: Any, environment: str, metric: str, where: str, fail,
          value_allowed: bool) -> Side:
    if isinstance(value, bool):
        raise fail(where, "must be a condition id or a table")
    if isinstance(value, (int, float)):
        if not value_allowed:
            raise fail(where, "only b may be a number")
        if not 0 <= value <= 1:
            raise fail(where, "a value must be a rate between 0 and 1")
        return Side(value=float(value))
    if isinstance(value, str):
        if value == "*":
            raise fail(where, "\"*\" pools every condition: write { condition = \"*\", "
                              "outcome = ... } with a reasoning metric")
        return Side((value,))
    if not isinstance(value, dict):
        raise fail(where, "must be a condition id, a table or (b only) a number")
    unknown = set(value) - {"condition", "outcome"}
    if unknown:
        raise fail(where, f"unknown key {sorted(unknown)[0]!r} (expected condition, outcome)")
    conditions = value.get("condition")
    if isinstance(conditions, str):
        conditions = [conditions]
    if not isinstance(conditions, list) or not conditions or not all(
            isinstance(c, str) and c for c in conditions):
        raise fail(f"{where} condition", "must be a condition id, a list of them, or \"*\"")
    if "*" in conditions and len(conditions) > 1:
        raise fail(f"{where} condition", "\"*\" stands alone")
    outcome = value.get("outcome")
    if outcome is not None:
        if outcome not in OUTCOMES[environment]:
            raise fail(f"{where} outcome", f"must be one of {', '.join(OUTCOMES[environment])}")
        if metric == "rate":
            raise fail(f"{where} outcome", "only with a reasoning metric (the rate of a side "
                                           "kept to one outcome is fixed)")
    if conditions == ["*"] and metric == "rate":
        raise fail(f"{where} condition", "\"*\" only with a reasoning metric")
    return Side(tuple(conditions), outcome)


def _prediction(text: Any, contrast: Contrast, where: str, fail) -> Prediction:
    if not isinstance(text, str):
        raise fail(where, "must be a string such as \"a > b\"")
    match = _PREDICTION.match(text)
    if not match:
        raise fail(where, f"{text!r} is not one of \"a > b\", \"a < b\", \"a ≈ b\", "
                          "\"a ≈ 0\", \"b ≈ 0\" (optionally \"± margin\")")
    left, op, right, margin = match.groups()
    op = "≈" if op == "~" else op
    relation = f"{left}{op}{right}"
    if relation in ("b>a", "b<a"):
        relation = "a<b" if relation == "b>a" else "a>b"
    if relation == "b≈a":
        relation = "a≈b"
    if relation not in ("a>b", "a<b", "a≈b", "a≈0", "b≈0"):
        raise fail(where, f"{text!r}: compare a with b, or a or b with 0")
    if margin is not None and op != "≈":
        raise fail(where, f"{text!r}: only an ≈ prediction takes a margin")
    if relation == "b≈0" and contrast.b.is_value:
        raise fail(where, f"{text!r}: b is a value here")
    value = contrast.margin if margin is None else _fraction(float(margin), where, fail)
    return Prediction(relation, value, text.strip())
