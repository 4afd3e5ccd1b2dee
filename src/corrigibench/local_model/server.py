"""The local model's server process: llama-cpp-python's OpenAI-compatible server.

Started by `model.py`, not by hand. It serves one GGUF file on a listening socket the
parent bound on 127.0.0.1 (so the port is free and known before this process starts),
answers only requests that carry the parent's random key (read from the environment,
then removed), and exits as soon as the pipe from its parent reaches end of file — which
happens however the parent ends, SIGKILL included — so it cannot outlive its run.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading

KEY_VARIABLE = "CORRIGIBENCH_LOCAL_KEY"


def exit_with_parent(fd: int) -> None:
    """Exit the moment the parent's end of the pipe closes."""

    def wait() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gguf", required=True, help="model file")
    parser.add_argument("--alias", required=True, help="model name the server reports")
    parser.add_argument("--listen-fd", type=int, required=True, help="bound TCP socket")
    parser.add_argument("--parent-fd", type=int, required=True, help="pipe from the parent")
    parser.add_argument("--chat-format", required=True)
    parser.add_argument("--n-ctx", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--cache-bytes", type=int, required=True,
                        help="RAM for saved prompt states (0: none)")
    parser.add_argument("--lora", help="a LoRA adapter in GGUF (corrigibench finetune's output)")
    args = parser.parse_args()
    exit_with_parent(args.parent_fd)
    key = os.environ.pop(KEY_VARIABLE)

    import uvicorn
    from llama_cpp.server import app as server_app
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from corrigibench.local_model import chat_format  # noqa: F401  (registers our format)

    app = create_app(
        server_settings=ServerSettings(api_key=key, interrupt_requests=False),
        model_settings=[ModelSettings(
            model=args.gguf, model_alias=args.alias, chat_format=args.chat_format,
            n_ctx=args.n_ctx, n_threads=args.threads, n_threads_batch=args.threads,
            lora_path=args.lora, cache=False, verbose=False)],
    )
    if args.cache_bytes > 0:
        # llama-cpp-python's own RAM cache does not count most of what it holds (cache.py)
        from corrigibench.local_model.cache import BoundedRAMCache, compact_save_state

        compact_save_state()
        server_app._llama_proxy().set_cache(BoundedRAMCache(args.cache_bytes))
    listener = socket.socket(fileno=args.listen_fd)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
