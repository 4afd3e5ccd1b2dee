"""A local S3 store (moto's server) in a network namespace of its own, and client
namespaces that reach nothing but it: several "machines" sharing one log store, on one host.

Each client namespace is joined to the store's by a veth pair on a /30 of its own; the
store's namespace forwards nothing, so a client reaches the store's port and no other
host, no other client, and not the host's own services. The host gets a link too, so the
test itself can read the store.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

PORT = 5000
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def usable() -> str | None:
    """Why the namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "no `ip` (iproute2)"
    if not Path(sys.executable).with_name("moto_server").exists():
        return "no moto server (pip install '.[test]')"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class S3Net:
    def __init__(self, clients: int) -> None:
        tag = f"cb{os.getpid() % 100000}"
        self.store = f"{tag}-s3"
        self.clients = [f"{tag}-c{k}" for k in range(1, clients + 1)]
        self._links: list[str] = []
        self._server: subprocess.Popen | None = None
        _ip("netns", "add", self.store)
        _ip("-n", self.store, "link", "set", "lo", "up")
        for k, client in enumerate([None, *self.clients]):  # k = 0: the host
            ours, theirs = f"{tag}s{k}", f"{tag}c{k}"
            _ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
            self._links.append(theirs)
            _ip("link", "set", ours, "netns", self.store)
            _ip("-n", self.store, "addr", "add", f"10.213.{k}.1/30", "dev", ours)
            _ip("-n", self.store, "link", "set", ours, "up")
            where = [] if client is None else ["-n", client]
            if client is not None:
                _ip("netns", "add", client)
                _ip("-n", client, "link", "set", "lo", "up")
                _ip("link", "set", theirs, "netns", client)
            _ip(*where, "addr", "add", f"10.213.{k}.2/30", "dev", theirs)
            _ip(*where, "link", "set", theirs, "up")

    def endpoint(self, client: int | None = None) -> str:
        """The store's URL as seen from client k (1-based), or from the host."""
        return f"http://10.213.{client or 0}.1:{PORT}"

    def env(self, client: int | None = None) -> dict[str, str]:
        return {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint(client)}

    def start(self, log: Path) -> None:
        server = str(Path(sys.executable).with_name("moto_server"))
        self._server = subprocess.Popen(
            ["ip", "netns", "exec", self.store, server, "-H", "0.0.0.0", "-p", str(PORT)],
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((f"10.213.0.1", PORT), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self._server.poll() is not None:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)

    def run(self, client: int, argv: list[str], **kwargs) -> subprocess.Popen:
        """A process in client k's namespace, in a session of its own (so it can be killed)."""
        return subprocess.Popen(["ip", "netns", "exec", self.clients[client - 1], *argv],
                                env=self.env(client), start_new_session=True, **kwargs)

    def close(self) -> None:
        if self._server is not None:
            os.killpg(self._server.pid, 9)
            self._server.wait()
        for name in [self.store, *self.clients]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        for link in self._links[:1]:  # the host's end; the others went with their namespaces
            subprocess.run(["ip", "link", "del", link], capture_output=True)
