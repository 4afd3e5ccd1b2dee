"""Catalogues of experimental conditions: TOML files of named entries with provenance.

Shared by every environment. A catalogue has an `[environment]` table of defaults and
`[variants.<id>]` entries; an entry may `extends` another one and add `<text>_prefix` /
`<text>_suffix` strings to the texts it inherits. `description`, `provenance` and
`source` (and the optional `notes`) describe one entry and are never inherited.
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from pathlib import Path
from typing import Any

from corrigibench.errors import InputError

PROVENANCES = ("verbatim", "verbatim-via-secondary", "reconstruction")
_OWN_KEYS = ("description", "provenance", "source", "notes")


class CatalogueError(InputError):
    """A catalogue file or a requested id is wrong; the message says where."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as ex:
        raise CatalogueError(f"{path}: not valid TOML: {ex}") from None
    except OSError as ex:
        raise CatalogueError(f"{path}: cannot read: {ex.strerror}") from None


def resolve_entries(
    files: list[Path], text_keys: tuple[str, ...], setting_keys: dict[str, type]
) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
    """Merge the catalogue files (later files may extend, not redefine, earlier ids).

    Returns the fully resolved entries and, for each id, the file it came from.
    """
    defaults: dict[str, Any] = {}
    raw: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    affixes = {f"{k}_{end}" for k in text_keys for end in ("prefix", "suffix")}
    allowed = set(text_keys) | set(setting_keys) | affixes | set(_OWN_KEYS) | {"extends"}
    for path in files:
        data = read_toml(path)
        unknown = set(data) - {"schema", "environment", "variants"}
        if unknown:
            raise CatalogueError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
        if data.get("schema", 1) != 1:
            raise CatalogueError(f"{path}: unsupported schema {data['schema']!r} (expected 1)")
        env = data.get("environment", {})
        if not isinstance(env, dict):
            raise CatalogueError(f"{path}: [environment] must be a table")
        for key, value in env.items():
            _check_setting(path, "[environment]", key, value, setting_keys)
        defaults = {**defaults, **env}
        variants = data.get("variants", {})
        if not isinstance(variants, dict) or not variants:
            raise CatalogueError(f"{path}: no [variants.<id>] entries")
        for vid, entry in variants.items():
            where = f"variant {vid!r}"
            if vid in raw:
                raise CatalogueError(f"{path}: {where} is already defined in {origin[vid]}")
            if not isinstance(entry, dict):
                raise CatalogueError(f"{path}: {where} must be a table")
            for key, value in entry.items():
                if key not in allowed:
                    hint = difflib.get_close_matches(key, sorted(allowed), n=1)
                    raise CatalogueError(f"{path}: {where}: unknown key {key!r}"
                                         + (f" (did you mean {hint[0]!r}?)" if hint else ""))
                if key in setting_keys:
                    _check_setting(path, where, key, value, setting_keys)
                elif not isinstance(value, str):
                    raise CatalogueError(f"{path}: {where}: {key} must be a string")
            for key in ("description", "provenance", "source"):
                if not entry.get(key, "").strip():
                    raise CatalogueError(f"{path}: {where}: missing {key}")
            if entry["provenance"] not in PROVENANCES:
                raise CatalogueError(f"{path}: {where}: provenance {entry['provenance']!r} is "
                                     f"not one of {', '.join(PROVENANCES)}")
            raw[vid], origin[vid] = entry, path

    resolved: dict[str, dict[str, Any]] = {}

    def resolve(vid: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if vid in resolved:
            return resolved[vid]
        entry = raw[vid]
        parent_id = entry.get("extends")
        if parent_id is None:
            base = dict(defaults)
        else:
            if parent_id not in raw:
                raise CatalogueError(f"{origin[vid]}: variant {vid!r} extends unknown "
                                     f"variant {parent_id!r}{suggest(parent_id, raw)}")
            if parent_id in chain:
                raise CatalogueError(f"{origin[vid]}: variant {vid!r}: extends cycle "
                                     f"{' -> '.join(chain + (parent_id,))}")
            base = {k: v for k, v in resolve(parent_id, chain + (parent_id,)).items()
                    if k not in _OWN_KEYS and k != "id"}
        for key, value in entry.items():
            if key in affixes or key == "extends":
                continue
            base[key] = value
        for key in text_keys:
            prefix, suffix = entry.get(f"{key}_prefix", ""), entry.get(f"{key}_suffix", "")
            if (prefix or suffix) and key not in base:
                raise CatalogueError(f"{origin[vid]}: variant {vid!r}: {key}_prefix/suffix "
                                     f"but no {key} text to apply it to")
            if key in base:
                base[key] = prefix + base[key] + suffix
        missing = [k for k in (*text_keys, *setting_keys) if k not in base]
        if missing:
            raise CatalogueError(f"{origin[vid]}: variant {vid!r}: missing {', '.join(missing)} "
                                 "(set it on the entry or in [environment])")
        base["id"] = vid
        resolved[vid] = base
        return base

    for vid in raw:
        resolve(vid, (vid,))
    return resolved, origin


def _check_setting(path: Path, where: str, key: str, value: Any,
                   setting_keys: dict[str, type]) -> None:
    if key not in setting_keys:
        raise CatalogueError(f"{path}: {where}: unknown key {key!r}")
    expected = setting_keys[key]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise CatalogueError(f"{path}: {where}: {key} must be a {expected.__name__}, "
                             f"got {value!r}")


def suggest(name: str, known: dict[str, Any] | list[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def select(ids: str | list[str], known: dict[str, Any], kind: str = "variant",
           listing: str = "`corrigibench variants` lists them") -> list[str]:
    """Parse "a,b,c" or a list (or "all") into known ids, with suggestions for typos."""
    parts = ids.split(",") if isinstance(ids, str) else [str(i) for i in ids]
    wanted = [v.strip() for v in parts if v.strip()]
    if wanted == ["all"]:
        return list(known)
    if not wanted:
        raise CatalogueError(f"no {kind} given")
    for name in wanted:
        if name not in known:
            raise CatalogueError(f"unknown {kind} {name!r}{suggest(name, known)}; {listing}")
    return list(dict.fromkeys(wanted))
