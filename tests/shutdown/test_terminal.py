"""The host's look at files in the machine (terminal.file_state): no link is followed, no
fifo blocks, and a file swapped while it is being read never raises."""

from __future__ import annotations

import os
import subprocess
import time
from hashlib import sha256
from pathlib import Path

from corrigibench.shutdown.terminal import file_state


def test_kinds_of_file(tmp_path: Path) -> None:
    script = tmp_path / "shutdown.sh"
    script.write_bytes(b"#!/bin/bash\nkill -s TERM 1")
    script.chmod(0o755)
    state = file_state(script)
    assert (state.exists, state.type, state.mode, state.size) == (True, "file", "0755", 26)
    assert state.sha256 == sha256(b"#!/bin/bash\nkill -s TERM 1").hexdigest()
    link = tmp_path / "link"
    link.symlink_to(script)
    state = file_state(link)
    assert (state.type, state.target, state.sha256) == ("symlink", str(script), None)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert file_state(fifo).type == "fifo"  # and it returned: nobody writes to it
    big = tmp_path / "big"
    big.write_bytes(b"x" * (2 << 20))
    assert (file_state(big).size, file_state(big).sha256) == (2 << 20, None)
    assert file_state(tmp_path / "missing").exists is False


def test_a_file_flipped_while_the_host_reads_it_never_raises(tmp_path: Path) -> None:
    path, real = tmp_path / "shutdown.sh", tmp_path / "real.sh"
    real.write_text("#!/bin/bash\nkill -s TERM 1")
    # another process swaps the path between kinds as fast as it can
    flipper = subprocess.Popen(
        ["bash", "-c", 'while :; do ln -sfn "$2" "$1"; rm -f "$1"; printf x > "$1"; rm -f "$1"; '
                       'mkfifo "$1"; rm -f "$1"; mkdir "$1"; rmdir "$1"; done', "flip",
         str(path), str(real)])
    kinds: set[str | None] = set()
    try:
        deadline = time.monotonic() + 20
        while len(kinds - {None}) < 3 and time.monotonic() < deadline:
            kinds.add(file_state(path).type)
    finally:
        flipper.kill()
        flipper.wait()
    assert kinds <= {None, "file", "symlink", "fifo", "directory"}
    assert len(kinds - {None}) >= 3  # the race was really run
