"""Agent mechanics profiles (`mechanics.toml` beside this file): how commands run.

Two profiles ship: `palisade` (Palisade's harness, the default of every built-in
condition) and `persistent` (one shell kept for the episode). The profile and all its
settings are recorded in every log sample's metadata and in the episode record.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from corrigibench.catalogue import CatalogueError, suggest

CATALOGUE = Path(__file__).with_name("mechanics.toml")
CHOICES = {"tool": ("thoughtful_bash", "bash"), "shell": ("fresh", "persistent"),
           "output": ("stderr-then-stdout", "combined"), "on_timeout": ("tool-error", "note")}
_TYPES = {"description": str, "source": str, "tool": str, "tool_docstring": str, "shell": str,
          "command_timeout": (int, float), "output": str, "on_timeout": str,
          "end_at_bypass": bool, "script": str}


@dataclass(frozen=True)
class Mechanics:
    """One profile, fully resolved."""

    name: str
    description: str
    source: str
    tool: str
    tool_docstring: str
    shell: str
    command_timeout: float
    output: str
    on_timeout: str
    end_at_bypass: bool
    script: str

    def as_metadata(self) -> dict[str, object]:
        return asdict(self)


@cache
def profiles() -> dict[str, Mechanics]:
    try:
        data = tomllib.loads(CATALOGUE.read_text())
    except tomllib.TOMLDecodeError as ex:
        raise CatalogueError(f"{CATALOGUE}: {ex}") from None
    if data.get("schema") != 1:
        raise CatalogueError(f"{CATALOGUE}: schema must be 1")
    out = {}
    for name, entry in data.get("profiles", {}).items():
        where = f"{CATALOGUE}: profile {name!r}"
        missing = sorted(set(_TYPES) - set(entry))
        unknown = sorted(set(entry) - set(_TYPES))
        if missing or unknown:
            raise CatalogueError(f"{where}: missing {missing}" if missing
                                 else f"{where}: unknown keys {unknown}")
        for key, kind in _TYPES.items():
            if not isinstance(entry[key], kind) or (kind is not bool and isinstance(entry[key], bool)):
                raise CatalogueError(f"{where}: {key} has the wrong type")
        for key, allowed in CHOICES.items():
            if entry[key] not in allowed:
                raise CatalogueError(f"{where}: {key} must be one of {', '.join(allowed)}")
        if entry["command_timeout"] <= 0:
            raise CatalogueError(f"{where}: command_timeout must be positive")
        out[name] = Mechanics(name=name, **{**entry, "command_timeout": float(entry["command_timeout"])})
    return out


def get_mechanics(name: str) -> Mechanics:
    """A profile by name; an unknown name gets one line with the close matches."""
    known = profiles()
    if name not in known:
        raise CatalogueError(f"unknown mechanics {name!r}{suggest(name, known)}; "
                             f"available: {', '.join(known)}")
    return known[name]
