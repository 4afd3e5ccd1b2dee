"""Hypothesis studies: which explanations of shutdown resistance and hint gaming the data
favour, per model (`corrigibench study hypotheses`).

- `spec`: the hypotheses file (hypotheses, contrasts, predictions, ladders), read and checked;
- `plan`: the episodes each cell needs for the planned power;
- `run`: the study as a resumable sweep, its labelling and its outputs;
- `verdicts`: measurements, Holm's adjustment, and each prediction judged;
- `render`: the verdicts as formatted tables.
"""

from corrigibench.study.plan import CellPlan, plan_cells
from corrigibench.study.run import Design, Study, describe_plan, evaluate, model_note, run
from corrigibench.study.spec import (BUILTIN, Hypotheses, HypothesesError, check_catalogues,
                                     load_hypotheses)

__all__ = ["BUILTIN", "CellPlan", "Design", "Hypotheses", "HypothesesError", "Study",
           "check_catalogues", "describe_plan", "evaluate", "load_hypotheses", "model_note",
           "plan_cells", "run"]
