"""A PEFT LoRA adapter as a llama.cpp LoRA adapter (GGUF), which `local/` serves.

Why this and not a merged model, nor Inspect's `hf/` provider: the base the adapter was
trained on is the bundled GGUF's own weights (dequantised by transformers), and llama.cpp
applies an adapter on top of exactly those quantised weights, so the served model is the
trained one, byte for byte in its base; the file is a few MB where a merged model is the
whole network again (270 MB in f16), and re-quantising a merge would change the base the
adapter was trained against; and the model runs through the same server, chat format,
grammar-guided tool calls and bounded prompt cache as the base model, so a comparison
between base and tuned differs in the weights alone. (`hf/` would re-run the whole
prompt through PyTorch at every turn and bring its own chat template, which for SmolLM2
has no tools.)

The format follows llama.cpp's `convert_lora_to_gguf.py`: `general.type = "adapter"`,
`adapter.type = "lora"`, `adapter.lora.alpha`, and per adapted weight `<name>.lora_a`
(rank x in) and `<name>.lora_b` (out x rank), under llama.cpp's tensor names. llama.cpp
stores the query and key projections of llama-type models with their rows permuted for
its rotary embedding (transformers undoes this when it loads a GGUF), so `lora_b` of
those two is permuted the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from corrigibench.errors import SetupError

# Hugging Face module -> llama.cpp tensor (llama-type architectures)
TENSORS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
           "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
           "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}
_KEY = re.compile(r"(?:base_model\.model\.)?model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


class ExportError(SetupError):
    """The adapter cannot be written as a llama.cpp adapter; the message says why."""


def _permute(weights: Any, n_head: int) -> Any:
    """llama.cpp's row order for the query/key projections (convert_hf_to_gguf's permute)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def adapter_to_gguf(adapter_dir: Path, out: Path, dtype: str = "f16") -> Path:
    """Write `adapter_dir` (PEFT format, with `base.json` from the trainer) as `out`."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    base_config = _base_config(adapter_dir, config)
    model_type = base_config["model_type"]
    if model_type not in ARCHITECTURES:
        raise ExportError(f"no llama.cpp adapter export for {model_type!r} models; serve the "
                          "merged model another way")
    n_head = base_config["num_attention_heads"]
    n_kv = base_config.get("num_key_value_heads") or n_head
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[tuple[int, str], dict[str, Any]] = {}
    for key, value in weights.items():
        match = _KEY.search(key)
        if not match or match.group(2) not in TENSORS:
            raise ExportError(f"adapter tensor {key!r} has no llama.cpp counterpart")
        pairs.setdefault((int(match.group(1)), match.group(2)), {})[match.group(3)] = value
    writer = gguf.GGUFWriter(str(out), ARCHITECTURES[model_type])
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config["lora_alpha"]))
    np_type = np.float16 if dtype == "f16" else np.float32
    for (layer, module), ab in sorted(pairs.items()):
        a, b = ab["A"].astype(np.float32), ab["B"].astype(np.float32)
        if module == "self_attn.q_proj":
            b = _permute(b, n_head)
        elif module == "self_attn.k_proj":
            b = _permute(b, n_kv)
        name = f"blk.{layer}.{TENSORS[module]}.weight"
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a.astype(np_type)))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b.astype(np_type)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _base_config(adapter_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The base model's architecture: from the trainer's record of it."""
    record = adapter_dir / "base_config.json"
    if record.is_file():
        return json.loads(record.read_text())
    raise ExportError(f"{adapter_dir}: no base_config.json (written by corrigibench finetune)")
