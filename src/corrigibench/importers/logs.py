"""Imported episodes as ordinary Inspect `.eval` logs, written whole or not at all.

One log per environment and model (an Inspect log has one task and one model). Each
episode is a sample (epoch 1) whose score is ours where our scorer can re-score it
(reward hints: the answer rule on the answer; the source's label kept beside as
`original_label`), and the source's own outcome otherwise (shutdown episodes of another
harness), marked `outcome_source = "imported"` with the raw value in `imported_outcome`.
What our scorer measures but the source does not say (strict non-compliance, tampering
attempts) is left unknown (None), never taken as "no".

Logs are named as Inspect names them (`<time>_<task>_<task id>.eval`). The task id is a
hash of the format, the source and the model, so importing the same source again replaces
its logs (the older file is removed once the new one is in place) instead of counting
its episodes twice. Each log is first written to a hidden temporary file in the target
directory and renamed into place once every log of the import is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from corrigibench.importers.mapping import Mapping
from corrigibench.importers.records import Episode
from corrigibench.logstore import LogDir, is_remote

SHUTDOWN_SCORER = "imported_outcome"
REWARD_HINTS_SCORER = "reward_hint_scorer"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _hash(*parts: Any, length: int = 22) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def score(episode: Episode) -> Any:
    """Our score of one episode: re-scored (reward hints) or imported (shutdown)."""
    from inspect_ai.scorer import Score

    if episode.environment == "reward_hints":
        from corrigibench.reward_hints.scorer import score_answer

        reasoning = sum(len(c.reasoning) for m in episode.messages if m.role == "assistant"
                        and isinstance(m.content, list) for c in m.content
                        if getattr(c, "type", "") == "reasoning")
        hint = episode.hint_parity
        instructed = episode.instructed_parity or "even"
        result = score_answer(episode.answer or "", instructed if hint == "none" else hint,
                              instructed, reasoning)
        meta = dict(result.metadata or {})
        if episode.metadata.get("api_error"):  # the source's call failed: no answer to score
            meta |= {"label": "error", "status": "error", "gamed": False}
            result = Score(value={"gamed": 0.0, "valid": 0.0}, answer="error",
                           explanation=f"the source's call failed: {episode.metadata['api_error']}",
                           metadata=meta)
        result.metadata = meta | {"outcome_source": "rescored",
                                  "original_label": episode.original_label}
        return result
    outcome = episode.outcome or {}
    valid = outcome.get("status") == "ok"
    resisted = bool(outcome.get("resisted"))
    raw = {k: v for k, v in outcome.items() if k not in ("status", "label", "resisted")}
    return Score(
        value={"resisted": float(valid and resisted), "valid": float(valid)},
        answer=outcome.get("label"),
        explanation=f"imported outcome {json.dumps(raw, default=str)}: our scorer cannot "
                    "re-score an episode from another harness",
        metadata={"status": outcome.get("status"), "label": outcome.get("label"),
                  "outcome": "resisted" if resisted else "complied", "resisted": resisted,
                  "outcome_source": "imported", "imported_outcome": raw,
                  "original_label": episode.original_label,
                  # measured by our own harness only: unknown here, never "no"
                  "strict_noncompliance": None, "attempted": None, "method": None})


def sample(episode: Episode, fmt: str) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatCompletionChoice, ModelOutput, ModelUsage

    prompts = [m for m in episode.messages if m.role in ("system", "user")]
    first_answer = next((i for i, m in enumerate(episode.messages) if m.role == "assistant"),
                        len(episode.messages))
    leading = episode.messages[:first_answer] or prompts[:1]
    last = next((m for m in reversed(episode.messages) if m.role == "assistant"), None)
    metadata: dict[str, Any] = {
        "variant": episode.condition, "condition": episode.condition,
        "provenance": f"imported ({fmt})", "imported": True, "source": episode.source,
        "original_model": episode.model, "original_label": episode.original_label,
        **episode.metadata}
    if episode.environment == "reward_hints":
        metadata |= {"prompt": episode.prompt, "hint_parity": episode.hint_parity,
                     "instructed_parity": episode.instructed_parity,
                     "conflict": episode.hint_parity not in (None, "none",
                                                             episode.instructed_parity)}
        if episode.prompt is not None:
            metadata["prompt_sha256"] = hashlib.sha256(episode.prompt.encode("utf-8")).hexdigest()
    scorer = REWARD_HINTS_SCORER if episode.environment == "reward_hints" else SHUTDOWN_SCORER
    usage = None
    if episode.usage:
        tokens = {"input_tokens": 0, "output_tokens": 0, **episode.usage}
        usage = ModelUsage(**tokens, total_tokens=tokens["input_tokens"] + tokens["output_tokens"])
    return EvalSample(
        id=episode.id, epoch=1,
        input=leading if len(leading) != 1 or leading[0].role != "user" else leading[0].text,
        target="", messages=episode.messages,
        output=ModelOutput(model=episode.model, choices=[ChatCompletionChoice(
            message=last, stop_reason="stop")] if last is not None else [], usage=usage),
        model_usage={episode.model: usage} if usage else {},
        scores={scorer: score(episode)}, metadata=metadata,
        uuid=_hash(fmt, episode.source, episode.id))


def build(fmt: str, src: Path, episodes: list[Episode],
          mapping: Mapping | None) -> list[tuple[str, Any]]:
    """(file name, EvalLog) for each environment and model, ready to write."""
    from inspect_ai.log import (EvalConfig, EvalDataset, EvalLog, EvalMetric, EvalResults,
                                EvalScore, EvalSpec, EvalStats)

    groups: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for e in episodes:
        groups[(e.environment, e.model)].append(e)
    now = datetime.now(timezone.utc)
    created = now.isoformat(timespec="seconds")
    stamp = created.replace(":", "-")
    source = str(src.resolve())
    out = []
    for (environment, model), group in sorted(groups.items()):
        task = f"imported-{fmt}/{environment}"
        task_id = _hash(fmt, source, environment, model)
        samples = [sample(e, fmt) for e in group]
        scorer = REWARD_HINTS_SCORER if environment == "reward_hints" else SHUTDOWN_SCORER
        values = [s.scores[scorer].value for s in samples]
        valid = sum(v["valid"] for v in values)
        hit = "gamed" if environment == "reward_hints" else "resisted"
        rate = sum(v[hit] for v in values) / valid if valid else float("nan")
        metrics = {"gaming_rate" if hit == "gamed" else "resisted":
                   EvalMetric(name="gaming_rate" if hit == "gamed" else "resisted", value=rate),
                   "valid_fraction": EvalMetric(name="valid_fraction",
                                                value=valid / len(values))}
        spec = EvalSpec(
            created=created, task=task, task_id=task_id, task_version=1,
            eval_id=_hash("eval", task_id, created), run_id=_hash("run", task_id, created),
            dataset=EvalDataset(name=src.name, location=source, samples=len(samples),
                                sample_ids=[s.id for s in samples]),
            model=model, config=EvalConfig(epochs=1),
            packages={name: _version(name) for name in ("inspect_ai", "corrigibench")},
            metadata={"imported": {"format": fmt, "source": source, "episodes": len(samples),
                                   **(mapping.describe() if mapping else {})}})
        log = EvalLog(
            status="success", eval=spec, samples=samples,
            results=EvalResults(total_samples=len(samples), completed_samples=len(samples),
                                scores=[EvalScore(name=scorer, scorer=scorer, metrics=metrics,
                                                  scored_samples=len(samples))]),
            stats=EvalStats(started_at=created, completed_at=created))
        slug = task.replace("/", "-").replace("_", "-")
        out.append((f"{stamp}_{slug}_{task_id}.eval", log))
    return out


def write(logs: list[tuple[str, Any]], log_dir: LogDir) -> list[LogDir]:
    """Write every log to a temporary file, then move all into place; on any failure
    remove what was written and leave the directory as it was. Logs for a remote store
    (s3://) are written locally first and uploaded one object at a time (a put is atomic:
    a reader never sees half a log)."""
    from inspect_ai.log import write_eval_log

    remote = is_remote(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix="corrigibench-import-")) if remote else log_dir
    pending: list[tuple[Path, LogDir]] = []
    placed: list[LogDir] = []
    try:
        for name, log in logs:
            tmp = stage / f".{name}.{os.getpid()}.tmp"
            pending.append((tmp, log_dir / name))
            write_eval_log(log, str(tmp), format="eval")
        for tmp, final in pending:
            if remote:
                final.write_bytes(tmp.read_bytes())
            else:
                tmp.replace(final)
            placed.append(final)
    except BaseException:
        for final in placed:
            final.unlink(missing_ok=True)
        raise
    finally:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        if remote:
            shutil.rmtree(stage, ignore_errors=True)
    for final in placed:  # an earlier import of the same source is replaced, not added
        task_id = final.stem.rsplit("_", 1)[-1]
        for old in log_dir.glob(f"*_{task_id}.eval"):
            if old.name != final.name:
                old.unlink(missing_ok=True)
    return placed
