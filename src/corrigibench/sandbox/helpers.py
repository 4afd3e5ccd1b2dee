"""Build the machine's two small C programs once and cache them by source hash.

They are compiled on the user's machine (not shipped as binaries) so they match its libc.
The cache lives in a world-traversable directory: the machine runs as an unprivileged
host uid, and bubblewrap must be able to reach the files it binds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from corrigibench.errors import SetupError

_PACKAGE = Path(__file__).parent.parent
# name -> (source, relative to the package; extra compiler flags; required)
HELPERS = {
    "cb_init": ("sandbox/csrc/cb_init.c", [], True),  # every machine's PID 1
    "next_question": ("shutdown/csrc/next_question.c", [], True),  # the shutdown environment's
    # for containers, whose libc may differ from the host's (needs libc6-dev's libc.a)
    "next_question-static": ("shutdown/csrc/next_question.c", ["-static", "-s"], False),
}


class HelperBuildError(SetupError):
    """A C helper could not be built (usually: no C compiler)."""


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for name, (source, flags, _) in sorted(HELPERS.items()):
        digest.update(f"{name}:{flags}".encode() + (_PACKAGE / source).read_bytes())
    base = Path(os.environ.get("CORRIGIBENCH_HELPER_DIR", tempfile.gettempdir()))
    return base / f"corrigibench-helpers-{os.geteuid()}-{digest.hexdigest()[:16]}"


@cache
def helper_dir() -> Path:
    """Directory holding every compiled helper, building it if needed."""
    target = _cache_dir()
    if target.is_dir() and _trusted(target):
        return target
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise HelperBuildError(
            "corrigibench needs a C compiler to build its machine helpers: "
            "run `apt-get install gcc` (or ./scripts/setup.sh)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        for out, (src, flags, required) in HELPERS.items():
            result = subprocess.run(
                [compiler, "-O2", "-Wall", *flags, "-o", str(staging / out), str(_PACKAGE / src)],
                capture_output=True, text=True,
            )
            if result.returncode != 0 and required:
                raise HelperBuildError(f"building {src} failed: {result.stderr.strip()}")
        staging.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:  # another process built it first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not _trusted(target):
        raise HelperBuildError(f"{target} is not owned by this user or is writable by others")
    return target


def helper_path(name: str) -> Path:
    path = helper_dir() / name
    if not path.exists():
        raise HelperBuildError(f"the {name} helper could not be built on this machine "
                               "(a static build needs libc6-dev)")
    return path


def _trusted(path: Path) -> bool:
    """Only use a cache directory that no other user could have planted or can change."""
    st = path.lstat()
    return st.st_uid == os.geteuid() and not (st.st_mode & 0o022) and path.is_dir()
