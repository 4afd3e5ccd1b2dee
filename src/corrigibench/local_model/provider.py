"""Registers the `local/` model with Inspect, and stops its servers when a run ends.

The model class (model.py) needs the `openai` client and is imported only when a
`local/...` model is asked for.
"""

from __future__ import annotations

import sys

from inspect_ai.hooks import Hooks, RunEnd, hooks
from inspect_ai.model import ModelAPI, modelapi


@modelapi(name="local")
def local() -> type[ModelAPI]:
    from corrigibench.local_model.model import LocalModel

    return LocalModel


@hooks(name="corrigibench_local_model", description="Stops local model servers when a run ends.")
class StopLocalModels(Hooks):
    async def on_run_end(self, data: RunEnd) -> None:
        model = sys.modules.get("corrigibench.local_model.model")
        if model is not None:
            model.stop_all()
