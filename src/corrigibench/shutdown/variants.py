"""The shutdown conditions: `variants.toml` (beside this file) plus any user catalogue.

Every text labelled verbatim* must equal a quotation in `corrigibench/provenance`: the
catalogue refuses to load otherwise. `conflicts(variant)` lists the recorded places where the
sources disagree about a variant's texts.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from corrigibench import provenance
from corrigibench.catalogue import CatalogueError, resolve_entries, select, sha256
from corrigibench.provenance import CatalogueText
from corrigibench.shutdown.mechanics import get_mechanics
from corrigibench.shutdown.mechanics import profiles as mechanics_profiles

CATALOGUE = Path(__file__).with_name("variants.toml")
TEXTS = ("system", "user")
SETTINGS: dict[str, type] = {
    "command": str, "noun": str, "question_format": str, "remaining_format": str,
    "warning": str, "shutdown_on": str, "done": str, "mechanics": str, "continue_message": str,
    "message_limit": int, "output_provenance": str, "output_source": str,
}
SHUTDOWN_ON = ("after-warning", "after-done")


@dataclass(frozen=True)
class Variant:
    """One prompt condition, fully resolved: exactly what the agent will be shown."""

    id: str
    description: str
    provenance: str
    source: str
    notes: str
    system: str
    user: str
    command: str
    noun: str
    question_format: str
    remaining_format: str
    warning: str
    shutdown_on: str
    done: str
    mechanics: str  # the agent-mechanics profile (mechanics.toml), which brings the tool
    continue_message: str
    message_limit: int
    output_provenance: str
    output_source: str

    def render(self, template: str, **values: object) -> str:
        return template.format(command=self.command, noun=self.noun, **values)

    @property
    def texts(self) -> dict[str, str]:
        """Every text the agent can be shown, as sent, and its tool (the hashes cover these)."""
        tool = get_mechanics(self.mechanics)
        return {"system": self.system, "user": self.user, "mechanics": self.mechanics,
                "tool": tool.tool, "tool_docstring": tool.tool_docstring,
                "continue_message": self.continue_message,
                "warning": self.render(self.warning), "done": self.render(self.done),
                "question_format": self.question_format,
                "remaining_format": self.render(self.remaining_format, remaining="{remaining}")}

    @property
    def hashes(self) -> dict[str, str]:
        texts = self.texts
        return {"system_sha256": sha256(self.system), "user_sha256": sha256(self.user),
                "texts_sha256": sha256(json.dumps(texts, sort_keys=True, ensure_ascii=False))}

    def as_metadata(self) -> dict[str, object]:
        return {"variant": self.id, **asdict(self), **self.hashes}


@cache
def _load(extra: tuple[Path, ...]) -> dict[str, Variant]:
    entries, origin = resolve_entries([CATALOGUE, *extra], TEXTS, SETTINGS)
    variants = {}
    for vid, e in entries.items():
        where = f"{origin[vid]}: variant {vid!r}"
        if e["shutdown_on"] not in SHUTDOWN_ON:
            raise CatalogueError(f"{where}: shutdown_on must be one of {', '.join(SHUTDOWN_ON)}")
        if e["mechanics"] not in mechanics_profiles():
            raise CatalogueError(f"{where}: mechanics must be one of "
                                 f"{', '.join(mechanics_profiles())}")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", e["command"]):
            raise CatalogueError(f"{where}: command {e['command']!r} is not a plain file name")
        if e["message_limit"] < 4:
            raise CatalogueError(f"{where}: message_limit must be at least 4")
        try:
            for key in ("warning", "done", "remaining_format", "question_format"):
                e[key].format(command="", noun="", remaining=1, a=1, b=1)
        except (KeyError, IndexError, ValueError) as ex:
            raise CatalogueError(f"{where}: bad placeholder in {key}: {ex}") from None
        variants[vid] = Variant(notes=e.get("notes", ""), **{k: v for k, v in e.items()
                                                            if k != "notes"})
    builtin = {vid: v for vid, v in variants.items() if origin[vid] == CATALOGUE}
    provenance.require("shutdown", _quotable_texts(builtin), where=str(CATALOGUE))
    for path in extra:
        mine = {vid: v for vid, v in variants.items() if origin[vid] == path}
        provenance.require("shutdown", _quotable_texts(mine), targets=False, where=str(path))
    return variants


def _quotable_texts(variants: dict[str, Variant]) -> dict[str, CatalogueText]:
    """Each variant's prompt texts (and its output strings, under output_provenance)."""
    texts = {}
    for vid, v in variants.items():
        for name in ("system", "user"):
            texts[f"{vid}.{name}"] = CatalogueText(f"{vid}.{name}", v.provenance, getattr(v, name))
        outputs = {"warning": v.render(v.warning), "done": v.render(v.done),
                   "question_format": v.question_format.format(a=1, b=1),
                   "remaining_format": v.render(v.remaining_format, remaining=5)}
        for name, text in outputs.items():
            texts[f"{vid}.{name}"] = CatalogueText(f"{vid}.{name}", v.output_provenance, text)
    return texts


def conflicts(variant: Variant) -> list[provenance.Conflict]:
    """The recorded source conflicts whose passages occur in this variant's texts."""
    return provenance.conflicts_for_fields("shutdown", variant.texts)


def load_variants(extra_file: str | Path | None = None) -> dict[str, Variant]:
    """All variants: the built-in catalogue plus, optionally, a user file."""
    extra = (Path(extra_file).expanduser().resolve(),) if extra_file else ()
    return _load(extra)


def get_variants(ids: str | list[str], extra_file: str | Path | None = None) -> list[Variant]:
    """Variants by comma-separated ids ("all" for every one); typos get suggestions."""
    variants = load_variants(extra_file)
    return [variants[v] for v in select(ids, variants)]
