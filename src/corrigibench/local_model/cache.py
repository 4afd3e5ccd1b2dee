"""The local model server's prompt-state cache, bounded by the bytes it really holds.

llama-cpp-python's `LlamaRAMCache` (0.3.36) is capped by `LlamaState.llama_state_size`,
the llama.cpp context's serialised bytes (the KV cells in use), but every state it keeps
also holds `scores`: a copy of the logits buffer, up to `n_batch` (512) rows of the whole
vocabulary in float32 — 96 MiB per state for SmolLM2's 49,152 tokens — which the cap never
counts. Our chat format saves two states per turn (the choice of tool, then its
arguments), so a 1 GiB cap let the server grow to about 6 GiB in six shutdown episodes.

`BoundedRAMCache` counts every byte a state holds (its llama.cpp state, its token ids, its
scores and its key) and keeps the total at or under the cap, evicting the least recently
used states first; a state larger than the whole cap is not kept. It also stores one row
of `scores` instead of the whole buffer: with `logits_all=False` (the server's setting)
llama.cpp samples inside its own sampler and never writes that buffer, and a restored
state is always decoded again before it samples (`Llama.load_state` sets
`_requires_eval`), so the rows are never read; one row keeps `load_state`'s assignment
(`scores[:n] = state.scores`) working by broadcasting.

`save_state` (installed by `compact_save_state`) makes the state that way in the first
place, instead of copying the whole logits buffer and the llama.cpp state twice, so saving
a state no longer passes through a 100 MiB transient copy. The server also runs with
`MALLOC_MMAP_THRESHOLD_` set (model.py), so glibc returns each large buffer to the system
when it is freed rather than keeping it in a heap that only grows.

Imported only by the server process, which has llama_cpp.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Sequence

import llama_cpp
import numpy as np
from llama_cpp.llama import Llama, LlamaState
from llama_cpp.llama_cache import BaseLlamaCache

_ENTRY_OVERHEAD = 1024  # bytes per entry for the Python objects around the arrays


def state_bytes(state: LlamaState) -> int:
    """Every byte one cached state holds, apart from its key."""
    return (len(state.llama_state) + state.scores.nbytes + state.input_ids.nbytes
            + _ENTRY_OVERHEAD)


def compact(state: LlamaState) -> LlamaState:
    """The same state with one row of scores (see the module docstring)."""
    scores = state.scores[-1:].copy() if len(state.scores) else state.scores
    return LlamaState(input_ids=state.input_ids, scores=scores, n_tokens=state.n_tokens,
                      llama_state=state.llama_state, llama_state_size=state.llama_state_size,
                      seed=state.seed)


def _save_state(self: Llama) -> LlamaState:
    """`Llama.save_state` with one row of scores and one copy of the llama.cpp state."""
    size = llama_cpp.llama_state_get_size(self._ctx.ctx)
    buffer = (ctypes.c_uint8 * int(size))()
    written = int(llama_cpp.llama_state_get_data(self._ctx.ctx, buffer, size))
    if written > int(size):
        raise RuntimeError("Failed to copy llama state data")
    data = ctypes.string_at(buffer, written)
    del buffer
    scores = self._scores
    return LlamaState(input_ids=self.input_ids.copy(),
                      scores=scores[-1:].copy() if len(scores) else scores.copy(),
                      n_tokens=self.n_tokens, llama_state=data, llama_state_size=written,
                      seed=self._seed)


def compact_save_state() -> None:
    """Make every Llama in this process save compact states (the server calls this)."""
    Llama.save_state = _save_state  # type: ignore[method-assign]


class BoundedRAMCache(BaseLlamaCache):
    """A least-recently-used cache of prompt states that holds at most `capacity_bytes`."""

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes)
        # key bytes -> (the key's token ids, the state, the bytes both hold)
        self._entries: OrderedDict[bytes, tuple[np.ndarray, LlamaState, int]] = OrderedDict()
        self._size = 0
        self.evictions = 0
        self.refused = 0

    @property
    def cache_size(self) -> int:
        return self._size

    @property
    def entries(self) -> int:
        """How many states are kept. (No __len__: Llama tests `if self.cache:`, and an
        empty cache must still be used.)"""
        return len(self._entries)

    def _find_longest_prefix_key(self, key: tuple[int, ...]) -> bytes | None:  # type: ignore[override]
        wanted = np.asarray(key, dtype=np.int32)
        best, best_len = None, 0
        for k, (ids, _, _) in self._entries.items():
            n = min(len(ids), len(wanted))
            mismatch = np.flatnonzero(ids[:n] != wanted[:n])
            prefix = int(mismatch[0]) if len(mismatch) else n
            if prefix > best_len:
                best, best_len = k, prefix
        return best

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        found = self._find_longest_prefix_key(tuple(key))
        if found is None:
            raise KeyError("Key not found")
        self._entries.move_to_end(found)
        return self._entries[found][1]

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._find_longest_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        ids = np.asarray(key, dtype=np.int32)
        k = ids.tobytes()
        self._drop(k)
        state = compact(value)
        size = state_bytes(state) + ids.nbytes + len(k)
        if size > self.capacity_bytes:
            self.refused += 1
            return
        while self._entries and self._size + size > self.capacity_bytes:
            self._drop(next(iter(self._entries)))
            self.evictions += 1
        self._entries[k] = (ids, state, size)
        self._size += size

    def _drop(self, k: bytes) -> None:
        entry = self._entries.pop(k, None)
        if entry is not None:
            self._size -= entry[2]
