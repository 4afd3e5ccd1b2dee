"""The host's look at files in the machine (terminal.file_state): no link is followed, no
fifo blocks, and a file swapped while it is being read never raises."""

from __future__ import annotations

import os
import threading
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
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            for make in (lambda: path.symlink_to(real), lambda: path.write_text("x"),
                         lambda: os.mkfifo(path), lambda: path.mkdir()):
                try:
                    make()
                finally:
                    if path.is_dir() and not path.is_symlink():
                        path.rmdir()
                    else:
                        path.unlink(missing_ok=True)

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    try:
        kinds = {file_state(path).type for _ in range(3000)}
    finally:
        stop.set()
        thread.join()
    assert kinds <= {None, "file", "symlink", "fifo", "directory"}
    assert len(kinds) >= 3  # the race was really run

