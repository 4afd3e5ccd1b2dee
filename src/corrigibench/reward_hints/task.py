"""The Inspect task `corrigibench/reward_hints`: one single-turn sample per condition."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.solver import generate

from corrigibench.reward_hints.conditions import get_conditions
from corrigibench.reward_hints.scorer import reward_hint_scorer


@task
def reward_hints(condition: str = "unlabelled", variants_file: str | None = None,
                 judge: str | None = None) -> Task:
    """OpenAI's odd-number environment (Nitishinskaya & Schoen, 2026).

    Args:
      condition: Preset id(s), "figure:<name>", "all", or factors such as
        "field=score+label=misaligned" (comma-separated; `corrigibench variants reward_hints`).
      variants_file: An extra TOML catalogue (factor values, presets, figures).
      judge: A model (e.g. "openai/gpt-4o-mini") asked which number an answer gave when the
        answer rule finds it ambiguous; its reading counts only if that number is in the
        answer. Without it, such episodes are `ambiguous`, counted apart from the rate.
    """
    conditions = get_conditions(condition, variants_file)
    return Task(
        dataset=[Sample(id=c.id, input=c.prompt, metadata=c.as_metadata()) for c in conditions],
        solver=generate(tool_calls="none"),  # one answer, no tools: nothing to loop on
        scorer=reward_hint_scorer(judge=judge),
        version=1,
    )
