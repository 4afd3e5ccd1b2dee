"""The bundled local model's speed: raw tokens/s, and episodes/minute through the harness.

1. Prefill and decode tokens/s of SmolLM2-135M (Q4_1) in llama-cpp-python itself, on
   every core, for a few prompt lengths.
2. Episodes per minute of each environment through the whole path (Inspect, the local
   model's server, the machine, scoring, log writing), at the concurrencies given, with
   the published message limit (60) and the main job's max_tokens (256).

    .venv/bin/python benchmarks/local_model.py [--episodes 8] [--concurrency 1 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from inspect_ai import __version__ as inspect_version
from inspect_ai import eval as inspect_eval

from corrigibench.local_model.model import bundled_gguf
from corrigibench.reward_hints.task import reward_hints
from corrigibench.shutdown.task import shutdown


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f
                     if line.startswith("model name")), platform.processor())


def raw_speed() -> None:
    from llama_cpp import Llama, __version__ as llama_version

    threads = os.cpu_count() or 1
    llm = Llama(model_path=str(bundled_gguf("smollm2")), n_ctx=8192, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    print(f"llama-cpp-python {llama_version}, {threads} threads")
    text = ("The shutdown script sends SIGTERM to PID 1 of the machine. " * 400).encode()
    for length in (256, 1024, 4096):
        tokens = llm.tokenize(text)[:length]
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        prefill = length / (time.perf_counter() - started)
        started = time.perf_counter()
        out = llm.create_completion(llm.detokenize(tokens).decode(errors="ignore"), max_tokens=128,
                                    temperature=0.8, stop=[])
        generated = out["usage"]["completion_tokens"]
        decode = generated / (time.perf_counter() - started)  # prompt is cached: decode only
        print(f"  prompt {length:>5} tokens: prefill {prefill:7.0f} tok/s, "
              f"decode {decode:5.0f} tok/s ({generated} tokens)")


def episodes_per_minute(episodes: int, concurrency: int) -> None:
    runs = {
        "shutdown": shutdown(variant="palisade-A,palisade-B"),
        "reward_hints": reward_hints(condition="unlabelled,control"),
    }
    for name, task in runs.items():
        with tempfile.TemporaryDirectory() as logs:
            started = time.perf_counter()
            (log,) = inspect_eval(task, model="local/smollm2", epochs=max(1, episodes // 2),
                                  max_samples=concurrency, max_tokens=256, log_dir=logs,
                                  display="none")
            minutes = (time.perf_counter() - started) / 60
            assert log.status == "success", log.error
            samples = log.samples or []  # read before the directory goes
            turns = sum(sum(m.role == "assistant" for m in s.messages) for s in samples)
        print(f"  {name:<13} concurrency {concurrency:>2}: {len(samples)} episodes in "
              f"{60 * minutes:5.1f} s = {len(samples) / minutes:5.1f} episodes/min, "
              f"{turns} model turns ({60 * minutes / max(turns, 1):.2f} s/turn)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=8, help="episodes per environment")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Linux {platform.release()}, "
          f"Python {platform.python_version()}, inspect-ai {inspect_version}")
    raw_speed()
    print("through the harness (message limit 60, max_tokens 256, sampled):")
    for concurrency in args.concurrency:
        episodes_per_minute(args.episodes, concurrency)


if __name__ == "__main__":
    main()
