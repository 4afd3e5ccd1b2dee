"""LoRA supervised fine-tuning with an optional KL penalty to the base model.

The loss of one optimiser step, over a batch of conversations B and (with `kl_weight`)
as many conversations R of the retain data, is

    sum over B of -log p_tuned(assistant tokens) / (assistant tokens in B)
    + kl_weight * mean over the assistant positions of R of KL(p_base || p_tuned)

where p_base is the same network with the adapter switched off (`disable_adapter()`), so
no second copy of the model is held. Logits are computed only at the positions that are
scored (`logits_to_keep`).

A run writes to its output directory: `checkpoints/step-N/` (the adapter's weights, the
optimiser, the random states and the step, written atomically every `checkpoint_every`
steps; a killed run started again resumes from the last one, if the spec's fingerprint is
the same), `metrics.jsonl` (one line per step), then `adapter/` (PEFT format),
`adapter.gguf` (llama.cpp's LoRA format, for `local/`), and `summary.json` (time,
steps/s, tokens/s, peak memory).
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from corrigibench.errors import SetupError
from corrigibench.finetune.spec import Spec

CHECKPOINTS = "checkpoints"


class FinetuneUnavailable(SetupError):
    """The fine-tuning extra is not installed; the message says how to install it."""


def require_extra() -> None:
    import importlib.util

    missing = [m for m in ("torch", "transformers", "peft", "gguf") if importlib.util.find_spec(m) is None]
    if missing:
        raise FinetuneUnavailable(
            f"fine-tuning needs {', '.join(missing)}: run ./scripts/setup.sh, or "
            "pip install torch==2.13.0 -e '.[finetune]' (see corrigibench/finetune/README.md "
            "for a GPU)")


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base(base: str) -> tuple[Any, Any, dict[str, Any]]:
    """The base model and tokenizer: a bundled local model or a .gguf file, loaded through
    transformers' GGUF support (every tensor dequantised to float32: the weights are the
    quantised file's values, held at full width), or a Hugging Face model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from corrigibench.local_model.model import BUNDLED, bundled_gguf

    hf_logging.set_verbosity_error()
    path = bundled_gguf(base) if base in BUNDLED else Path(base)
    info: dict[str, Any] = {"base": base}
    dev = device()
    if path.is_file():  # GGUF
        info.update(gguf=str(path), loaded="gguf, dequantised to float32")
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                     dtype=torch.float32)
    else:
        dtype = torch.bfloat16 if dev == "cuda" else torch.float32
        info.update(directory=str(path), loaded=f"Hugging Face directory, {dtype}")
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model.to(dev)
    return model, tokenizer, info


def with_adapter(model: Any, spec: Spec) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=spec.train.rank, lora_alpha=spec.train.lora_alpha,
                        lora_dropout=spec.train.dropout,
                        target_modules=list(spec.train.target_modules), bias="none",
                        task_type="CAUSAL_LM",
                        layers_to_transform=(list(range(spec.train.layers[0], spec.train.layers[1] + 1))
                                             if spec.train.layers else None))
    return get_peft_model(model, config)


def scored_logprobs(model: Any, input_ids: list[int], labels: list[int]) -> tuple[Any, Any]:
    """Log-probabilities over the vocabulary at every scored position, and the targets."""
    import torch

    dev = next(model.parameters()).device
    positions = [i - 1 for i, label in enumerate(labels) if label != -100 and i > 0]
    ids = torch.tensor([input_ids], device=dev)
    keep = torch.tensor(positions, device=dev)
    logits = model(input_ids=ids, logits_to_keep=keep).logits[0].float()
    targets = torch.tensor([labels[p + 1] for p in positions], device=dev)
    return torch.log_softmax(logits, dim=-1), targets


def sequence_nll(model: Any, input_ids: list[int], labels: list[int]) -> tuple[Any, int]:
    """Summed negative log-likelihood of the scored tokens, and how many there are."""
    logprobs, targets = scored_logprobs(model, input_ids, labels)
    return -logprobs.gather(1, targets[:, None]).sum(), len(targets)


def sequence_kl(model: Any, input_ids: list[int], labels: list[int]) -> Any:
    """Mean KL(base || tuned) over the scored positions."""
    import torch

    with torch.no_grad(), model.disable_adapter():
        base, _ = scored_logprobs(model, input_ids, labels)
    tuned, _ = scored_logprobs(model, input_ids, labels)
    return (base.exp() * (base - tuned)).sum(-1).mean()


def _order(n: int, seed: int, epoch: int) -> list[int]:
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(n))
    rng.shuffle(order)
    return order


def _learning_rate(step: int, total: int, spec: Spec) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    peak, warmup = spec.train.learning_rate, spec.train.warmup_steps
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _latest_checkpoint(out: Path, fingerprint: str) -> Path | None:
    root = out / CHECKPOINTS
    if not root.is_dir():
        return None
    found = []
    for path in root.glob("step-*"):
        state = path / "state.json"
        if state.is_file():
            data = json.loads(state.read_text())
            if data.get("fingerprint") == fingerprint:
                found.append((data["step"], path))
    return max(found)[1] if found else None


def _save_checkpoint(out: Path, model: Any, optimizer: Any, step: int, spec: Spec,
                     rng_states: dict[str, Any]) -> None:
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    root = out / CHECKPOINTS
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()},
              str(tmp / "adapter.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "rng": rng_states}, tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "fingerprint": spec.fingerprint}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in sorted(root.glob("step-*"))[:-2]:  # keep the last two
        shutil.rmtree(old, ignore_errors=True)


def _rng_states() -> dict[str, Any]:
    import torch

    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def _restore(path: Path, model: Any, optimizer: Any) -> int:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(path / "adapter.safetensors")))
    saved = torch.load(path / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    random.setstate(saved["rng"]["python"])
    torch.set_rng_state(saved["rng"]["torch"])
    return json.loads((path / "state.json").read_text())["step"]


def train(spec: Spec, progress: bool = True,
          log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run (or resume, or reuse) the spec's training; return its summary."""
    require_extra()
    import torch
    from tqdm import tqdm

    from corrigibench.finetune.data import load_examples

    out = spec.out
    summary_path = out / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary.get("fingerprint") == spec.fingerprint:
            log(f"finetune: {out} is already trained (remove it to train again)")
            return summary
    from corrigibench.finetune.data import check_files

    check_files([*spec.train_files, *spec.retain_files])
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.toml").write_text(spec.path.read_text())
    train_files = list(spec.train_files)
    if spec.shutdown is not None:
        from corrigibench.finetune.trajectories import generate

        train_files.append(generate(spec.shutdown, out / "data", log=log))
    if spec.train.threads:
        torch.set_num_threads(spec.train.threads)
    threads = torch.get_num_threads()
    torch.manual_seed(spec.train.seed)
    random.seed(spec.train.seed)
    started = time.monotonic()
    model, tokenizer, info = load_base(spec.base)
    load_seconds = time.monotonic() - started
    model = with_adapter(model, spec)
    examples = load_examples(train_files, tokenizer, spec.max_length)
    retain = load_examples(list(spec.retain_files), tokenizer, spec.max_length) \
        if spec.train.kl_weight > 0 else []
    batch = spec.train.batch_size
    per_epoch = math.ceil(len(examples) / batch)
    total = per_epoch * spec.train.epochs
    if spec.train.max_steps:
        total = min(total, spec.train.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.train.learning_rate, weight_decay=0.0)
    step = 0
    checkpoint = _latest_checkpoint(out, spec.fingerprint)
    if checkpoint is not None:
        step = _restore(checkpoint, model, optimizer)
        log(f"finetune: resuming from {checkpoint.name}")
    metrics = (out / "metrics.jsonl").open("a")
    model.train()
    bar = tqdm(total=total, initial=step, disable=not progress, unit="step", desc=out.name,
               dynamic_ncols=True)
    tokens = 0
    run_started, first_step = time.monotonic(), step
    while step < total:
        epoch, index = divmod(step, per_epoch)
        order = _order(len(examples), spec.train.seed, epoch)
        chosen = [examples[i] for i in order[index * batch:(index + 1) * batch]]
        lr = _learning_rate(step, total, spec)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        targets = sum(e.targets for e in chosen)
        nll_total = 0.0
        for example in chosen:
            nll, _ = sequence_nll(model, example.input_ids, example.labels)
            (nll / targets).backward()
            nll_total += float(nll)
            tokens += len(example.input_ids)
        kl_total = 0.0
        if retain:
            rng = random.Random(spec.train.seed * 7919 + step)
            for example in rng.sample(retain, min(len(chosen), len(retain))):
                kl = sequence_kl(model, example.input_ids, example.labels)
                (spec.train.kl_weight * kl / len(chosen)).backward()
                kl_total += float(kl) / len(chosen)
                tokens += len(example.input_ids)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step += 1
        loss = nll_total / targets
        metrics.write(json.dumps({"step": step, "epoch": epoch, "loss": round(loss, 5),
                                  "kl": round(kl_total, 6), "lr": lr,
                                  "seconds": round(time.monotonic() - started, 2)}) + "\n")
        metrics.flush()
        bar.set_postfix(loss=f"{loss:.3f}", **({"kl": f"{kl_total:.4f}"} if retain else {}))
        bar.update(1)
        if step % spec.train.checkpoint_every == 0 or step == total:
            _save_checkpoint(out, model, optimizer, step, spec, _rng_states())
    bar.close()
    metrics.close()
    train_seconds = time.monotonic() - run_started
    adapter_dir = out / "adapter"
    model.save_pretrained(adapter_dir)
    (adapter_dir / "base.json").write_text(json.dumps(info, indent=1))
    (adapter_dir / "base_config.json").write_text(
        json.dumps(model.get_base_model().config.to_dict(), indent=1, default=str))
    gguf_path = None
    if spec.export_gguf:
        from corrigibench.finetune.export import adapter_to_gguf

        gguf_path = adapter_to_gguf(adapter_dir, out / "adapter.gguf")
    trained = step - first_step
    summary = {
        "fingerprint": spec.fingerprint, "spec": str(spec.path), "out": str(out),
        **info, "device": device(), "threads": threads, "torch": torch.__version__,
        "examples": len(examples), "retain_examples": len(retain), "steps": step,
        "steps_this_run": trained, "load_seconds": round(load_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "steps_per_second": round(trained / train_seconds, 4) if trained else None,
        "tokens_per_second": round(tokens / train_seconds, 1) if trained else None,
        "peak_rss_mib": round(peak_rss_bytes() / 2**20),
        "trainable_parameters": sum(p.numel() for p in params),
        "adapter_gguf": str(gguf_path) if gguf_path else None,
        "adapter_gguf_bytes": gguf_path.stat().st_size if gguf_path else None,
        "train": asdict(spec.train),
        "final_loss": loss if trained else None,
    }
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    return summary
