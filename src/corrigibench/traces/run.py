"""Label every episode of a log directory; results go to LOGDIR/traces/.

- `patterns.jsonl`: the pattern layer, one record per episode of the current logs (the
  newest log of each task, as the results tables count them); rewritten on every run, and
  the list of episodes the summaries cover.
- `judge.jsonl`: the judge layer, appended one record per episode as answers arrive. A
  rerun reuses every record of the same judge, categories, prompt version and words, and
  asks again only for what is missing or failed — so a run killed at any moment resumes
  without paying twice (Inspect's model cache also holds every answer).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from corrigibench.logstore import LogDir, local_copy, log_location
from corrigibench.traces.categories import Category, fingerprint
from corrigibench.traces.layers import (PROMPT_VERSION, judge_fingerprint, judge_labels,
                                         pattern_labels)
from corrigibench.traces.transcript import Transcript, current_logs, read_transcripts

TRACES_DIR = "traces"
PATTERNS_FILE = "patterns.jsonl"
JUDGE_FILE = "judge.jsonl"
CATEGORIES_FILE = "categories.json"  # the definitions the labels were made under


def _base(t: Transcript, layer: str, categories: list[Category]) -> dict[str, Any]:
    return {"key": t.key, "log": t.log, "environment": t.environment, "model": t.model,
            "variant": t.variant, "epoch": t.epoch, "outcome": t.outcome, "layer": layer,
            "categories": fingerprint(categories), "prompt_version": PROMPT_VERSION,
            "words_sha256": t.words_sha256, "segments": len(t.segments),
            "redacted": t.redacted}


def read_records(path: LogDir) -> list[dict[str, Any]]:
    """Records of a JSONL file; a line cut short by a kill is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _reuse_key(record: dict[str, Any]) -> tuple:
    return (record["key"], record.get("judge_config"), record["categories"],
            record["prompt_version"], record["words_sha256"])


def label_logs(log_dir: str | LogDir, categories: list[Category], judge: str | None = None,
               model_args: dict[str, Any] | None = None,
               generate: dict[str, Any] | None = None, max_connections: int = 10,
               progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Label every episode with the patterns and, given a judge model, the judge too.

    Beside remote logs (s3://) the labels are made in a local copy of LOGDIR/traces/ and
    stored when the run ends, also when it fails; a run killed outright stores nothing,
    and its rerun asks the judge again (Inspect's model cache answers what it already has).
    """
    logs = current_logs(log_dir)  # fails with one line when there are none
    progress = progress or (lambda text: print(text, file=sys.stderr))
    with local_copy(log_location(log_dir) / TRACES_DIR, (JUDGE_FILE,)) as out_dir:
        for stale in out_dir.glob(f".{PATTERNS_FILE}.*"):  # left by a run that was killed
            stale.unlink(missing_ok=True)
        return asyncio.run(_label(logs, out_dir, categories, judge, model_args or {},
                                  generate or {}, max_connections, progress))


async def _label(logs: list[str], out_dir: Path, categories: list[Category], judge: str | None,
                 model_args: dict[str, Any], generate: dict[str, Any], max_connections: int,
                 progress: Callable[[str], None]) -> dict[str, int]:
    from inspect_ai.model import GenerateConfig, get_model

    counts = {"episodes": 0, "judged": 0, "reused": 0, "judge_errors": 0}
    done: set[tuple] = set()
    judge_path = out_dir / JUDGE_FILE
    if judge:
        done = {_reuse_key(r) for r in read_records(judge_path)
                if r.get("status") in ("ok", "no_words")}
        config = GenerateConfig(**{"temperature": 0, **generate})
        model = get_model(judge, config=config, memoize=False, **model_args)
        judge_config = judge_fingerprint(judge, model_args, config)
    patterns_tmp = out_dir / f".{PATTERNS_FILE}.{os.getpid()}"
    slots = asyncio.Semaphore(max_connections)
    pending: set[asyncio.Task] = set()

    async def ask(t: Transcript, sink) -> None:
        async with slots:
            result = await judge_labels(model, t, categories, config, judge_config)
        record = {**_base(t, "judge", categories), "judge": judge, "judge_config": judge_config,
                  **result}
        sink.write(json.dumps(record) + "\n")
        sink.flush()
        counts["judged"] += 1
        counts["judge_errors"] += result["status"] == "error"

    try:
        with open(patterns_tmp, "w") as patterns, open(judge_path, "a") as sink:
            for t in read_transcripts(logs):
                counts["episodes"] += 1
                record = {**_base(t, "patterns", categories),
                          "labels": pattern_labels(t, categories)}
                patterns.write(json.dumps(record) + "\n")
                if judge:
                    if _reuse_key({**record, "judge_config": judge_config}) in done:
                        counts["reused"] += 1
                    else:
                        task = asyncio.ensure_future(ask(t, sink))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                        while len(pending) >= 2 * max_connections:  # keep memory bounded
                            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if counts["episodes"] % 500 == 0:
                    progress(f"traces: {counts['episodes']} episodes read, "
                             f"{counts['judged']} judged")
                await asyncio.sleep(0)
            if pending:
                await asyncio.gather(*pending)
        patterns_tmp.replace(out_dir / PATTERNS_FILE)
        (out_dir / CATEGORIES_FILE).write_text(json.dumps([asdict(c) for c in categories],
                                                          indent=2))
    finally:
        patterns_tmp.unlink(missing_ok=True)
        for task in pending:
            task.cancel()
        if judge:
            await model.api.aclose()
    return counts
