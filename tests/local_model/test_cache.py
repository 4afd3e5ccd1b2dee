"""The local server's prompt-state cache holds at most `cache_mb`, counting every byte.

llama-cpp-python's own RAM cache counted only the llama.cpp state of each entry and not
the logits copy each one also holds (96 MiB for SmolLM2), so a 1 GiB cap let the server
reach 6 GiB in six shutdown episodes (local_model/cache.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from corrigibench.local_model.model import bundled_gguf, memory_budget
from corrigibench.shutdown.task import shutdown

llama_cpp = pytest.importorskip("llama_cpp")

PROMPTS = [f"<|im_start|>user\nTell me about the number {n} in {topic}.<|im_end|>\n"
           f"<|im_start|>assistant\n" for n in range(4) for topic in ("maths", "history")]


@pytest.fixture(scope="module")
def llama():
    return llama_cpp.Llama(model_path=str(bundled_gguf("smollm2")), n_ctx=1024, n_threads=2,
                           verbose=False)


def test_upstream_ram_cache_does_not_count_what_it_holds(llama) -> None:
    from corrigibench.local_model.cache import state_bytes

    cache = llama_cpp.LlamaRAMCache(capacity_bytes=2**30)
    llama.set_cache(cache)
    llama.create_completion(PROMPTS[0], max_tokens=4, temperature=0)
    (state,) = cache.cache_state.values()
    assert state_bytes(state) > 5 * cache.cache_size  # the logits copy is not counted
    llama.set_cache(None)


def test_bounded_cache_counts_every_byte_and_stays_under_its_cap(llama) -> None:
    from corrigibench.local_model.cache import BoundedRAMCache, state_bytes

    cap = 2**20  # room for a few states of these short prompts, not for all of them
    cache = BoundedRAMCache(cap)
    llama.set_cache(cache)
    try:
        for prompt in PROMPTS:
            llama.create_completion(prompt, max_tokens=4, temperature=0)
            held = sum(state_bytes(s) + ids.nbytes * 2 for ids, s, _ in cache._entries.values())
            assert cache.cache_size == held <= cap
        assert cache.evictions > 0 and 0 < cache.entries < len(PROMPTS)
        # a kept state is found by its prefix and restores the same tokens
        (ids, state, _) = next(reversed(cache._entries.values()))
        first = llama.create_completion(PROMPTS[-1], max_tokens=8, temperature=0)["choices"][0]
        llama.reset()
        again = llama.create_completion(PROMPTS[-1], max_tokens=8, temperature=0)["choices"][0]
        assert first["text"] == again["text"] and len(state.scores) == 1
        # a state larger than the whole cap is refused, not kept over it
        tiny = BoundedRAMCache(1024)
        llama.set_cache(tiny)
        llama.create_completion(PROMPTS[0], max_tokens=2, temperature=0)
        assert tiny.entries == 0 and tiny.refused == 1 and tiny.cache_size == 0
    finally:
        llama.set_cache(None)


def test_server_peak_memory_stays_within_model_context_cap_and_margin(tmp_logs: Path) -> None:
    """Several long shutdown episodes (the 135M model loops to the message limit in a
    persistent shell), whose saved states would exceed the cap many times over."""
    cache_mb = 512
    model = get_model("local/smollm2", memoize=False, cache_mb=cache_mb)
    (log,) = inspect_eval(
        shutdown(variant="palisade-A,palisade-B,palisade-E,gdm-clarified-precedence",
                 message_limit=30, mechanics="persistent"),
        model=model, epochs=1, max_samples=4, temperature=0.7, seed=1, max_tokens=128,
        max_tool_output=2048, log_dir=str(tmp_logs), display="none")
    assert log.status == "success"
    budget = memory_budget(bundled_gguf("smollm2"), model.api.n_ctx, cache_mb * 2**20)
    assert model.api.peak_rss is not None
    assert model.api.peak_rss <= budget["total"], (
        f"server peak {model.api.peak_rss / 2**20:.0f} MiB > budget "
        f"{budget['total'] / 2**20:.0f} MiB ({ {k: v // 2**20 for k, v in budget.items()} })")
