"""Where logs live: a local directory, or a prefix in an S3 (or S3-compatible) store.

Every command that reads or writes logs takes a *location*: a path, or `s3://bucket/prefix`.
Inspect reads and writes both through fsspec; this module gives the project's own files
beside the logs (comparisons.json, adaptive.json, study.json, the trace labels) the same
treatment. A remote location is a `UPath` (universal_pathlib, fsspec's own pathlib), so code
that joins, lists, reads and writes `spec.log_dir / "adaptive.json"` works unchanged on both.

Credentials come from the usual AWS variables or profile (`AWS_ACCESS_KEY_ID`,
`AWS_PROFILE`, ...); `AWS_ENDPOINT_URL` points at an S3-compatible store (MinIO, moto,
Ceph). Listings are never cached (Inspect's own S3 options), so `sweep --status` sees
another machine's shard the moment it writes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse
from zipfile import ZipFile

import inspect_ai._util.zipfile  # noqa: F401  (lets zipfile read Inspect's zstd members)
from inspect_ai._util.file import default_fs_options, file
from botocore.exceptions import BotoCoreError, ClientError
from upath import UPath

LogDir = Path | UPath
StoreError = (BotoCoreError, ClientError, PermissionError, FileNotFoundError)
"""What reading or writing a store raises for bad credentials, a missing bucket or object,
or an endpoint that does not answer (s3fs turns most S3 errors into the OS errors)."""


def is_remote(location: str | LogDir) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def log_location(text: str | LogDir, base: Path | None = None) -> LogDir:
    """A local directory (absolute; relative to `base` if given) or a remote prefix."""
    if isinstance(text, UPath) and is_remote(text):
        return text
    text = str(text)
    if is_remote(text):
        return UPath(text.rstrip("/"), **default_fs_options(text))
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    path = Path(text).expanduser()
    return (base / path if base is not None else path).resolve()


@contextmanager
def eval_zip(log: str) -> Iterator[ZipFile | None]:
    """An `.eval` log opened as a zip, local or remote (remote reads fetch only the members
    read, by range requests); None for a `.json` log, which Inspect's readers handle."""
    path = unquote(urlparse(log).path) if log.startswith("file://") else log
    if not path.endswith(".eval"):
        yield None
    elif is_remote(path):
        with file(path, "rb") as stream, ZipFile(stream) as z:
            yield z
    else:
        with ZipFile(path) as z:
            yield z


@contextmanager
def local_copy(directory: LogDir, names: tuple[str, ...]) -> Iterator[Path]:
    """A local working directory for files kept beside remote logs: the named files are
    downloaded first, and whatever the directory holds is uploaded when the block ends,
    also when it fails (an object store cannot append or rename, so the labeller works on
    a local copy). A local directory is used as it is."""
    if not is_remote(directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        yield Path(directory)
        return
    work = Path(tempfile.mkdtemp(prefix="corrigibench-"))
    try:
        for name in names:
            if (directory / name).exists():
                (work / name).write_bytes((directory / name).read_bytes())
        try:
            yield work
        finally:
            for item in work.iterdir():
                if item.is_file() and not item.name.startswith("."):
                    (directory / item.name).write_bytes(item.read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)
