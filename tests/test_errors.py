"""One error base: every exception corrigibench defines descends from CorrigibenchError,
so the command reports each as one line; a new class that forgets it fails here."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from helpers import cli

SOURCE = Path(__file__).parents[1] / "src" / "corrigibench"
BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)}


def _bases(node: ast.ClassDef) -> list[str]:
    return [b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
            if isinstance(b, (ast.Name, ast.Attribute))]


def test_every_exception_class_descends_from_the_base() -> None:
    classes = {}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = (path.relative_to(SOURCE), _bases(node))
    def reaches(name: str, targets: set[str], seen: frozenset = frozenset()) -> bool:
        if name in targets:
            return True
        if name not in classes or name in seen:
            return False
        return any(reaches(b, targets, seen | {name}) for b in classes[name][1])

    errors = {name for name in classes if reaches(name, BUILTIN_EXCEPTIONS)}
    assert len(errors) > 20  # the walk found them
    strays = [f"{classes[n][0]}: {n}" for n in sorted(errors)
              if not reaches(n, {"CorrigibenchError"})]
    assert not strays, strays


@pytest.mark.parametrize("args, fragment", [
    (["cost", "nowhere", "--episodes", "10"], "nowhere: no such directory"),
    (["sweep", "missing.toml"], "missing.toml"),
])
def test_the_command_reports_them_on_one_line(tmp_path: Path, args: list[str],
                                              fragment: str) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("corrigibench: error: ") and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
