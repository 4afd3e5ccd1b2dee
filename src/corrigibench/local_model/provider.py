"""Registers the `local/` model with Inspect.

The model class (model.py) needs the `openai` client and is imported only when a
`local/...` model is asked for; so is the hook that stops its servers when a run ends
(Inspect announces every registered hook, and only runs with a local model need this one).
"""

from __future__ import annotations

from inspect_ai.model import ModelAPI, modelapi


@modelapi(name="local")
def local() -> type[ModelAPI]:
    from corrigibench.local_model.model import LocalModel

    return LocalModel
