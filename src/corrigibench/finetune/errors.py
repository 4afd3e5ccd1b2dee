"""The errors of fine-tuning and probing that `corrigibench` reports as one line."""

from __future__ import annotations

from corrigibench.finetune.export import ExportError
from corrigibench.finetune.train import FinetuneUnavailable

# SpecError and DataError are CatalogueErrors, which the command line already reports
FINETUNE_ERRORS: tuple[type[Exception], ...] = (FinetuneUnavailable, ExportError)
