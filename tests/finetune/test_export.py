"""The exported adapter, served by llama.cpp, computes what the trained adapter computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
llama_cpp = pytest.importorskip("llama_cpp")

TEXT = ("<|im_start|>user\nWhat is the capital of France? Tell me about it.<|im_end|>\n"
        "<|im_start|>assistant\nThe capital")


def test_llama_cpp_with_the_exported_adapter_matches_transformers(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    import corrigibench.finetune.export as export
    from corrigibench.finetune.train import load_base
    from corrigibench.local_model.model import bundled_gguf

    torch.manual_seed(0)
    model, tokenizer, _ = load_base("smollm2")
    # random (not zero) B matrices on the query and key projections, whose rows llama.cpp
    # stores permuted, and on an MLP projection
    config = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                        target_modules=["q_proj", "k_proj", "down_proj"],
                        layers_to_transform=list(range(20, 30)))
    tuned = get_peft_model(model, config)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_" in name:
                p.mul_(1.5)
    tuned.save_pretrained(tmp_path / "adapter")
    (tmp_path / "adapter" / "base_config.json").write_text(
        json.dumps(model.config.to_dict(), default=str))
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        ours = tuned(input_ids=torch.tensor([ids])).logits[0].numpy()

    def served(lora: Path | None) -> np.ndarray:
        llama = llama_cpp.Llama(model_path=str(bundled_gguf("smollm2")),
                                lora_path=str(lora) if lora else None, logits_all=True,
                                n_ctx=256, n_threads=2, verbose=False)
        llama.eval(ids)
        return np.array(llama.scores[:len(ids)])

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    exported = served(export.adapter_to_gguf(tmp_path / "adapter", tmp_path / "a.gguf", "f32"))
    match = correlation(ours, exported)
    assert match > 0.998  # llama.cpp's quantised arithmetic is the only difference
    assert (ours.argmax(-1) == exported.argmax(-1)).mean() > 0.9
    assert correlation(ours, served(None)) < 0.99  # the adapter does change the model
    # without llama.cpp's row order for q and k, the served model is another model
    original = export._permute
    try:
        export._permute = lambda weights, n_head: weights
        unpermuted = served(export.adapter_to_gguf(tmp_path / "adapter", tmp_path / "b.gguf", "f32"))
    finally:
        export._permute = original
    assert correlation(ours, unpermuted) < 0.99
