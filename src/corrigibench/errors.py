"""corrigibench's errors: one base, so that the `corrigibench` command reports any of them
as one line with exit status 2 (never a traceback), and a caller can catch them all.

    CorrigibenchError
    ├── InputError (a ValueError): input a person can fix; the message names the file,
    │   │                          the key and the fix
    │   ├── catalogue.CatalogueError: a catalogue, spec, mapping or data file
    │   │   ├── sweep.SpecError, study.spec.HypothesesError
    │   │   ├── finetune.spec.SpecError, finetune.data.DataError
    │   │   └── importers.mapping.MappingError, traces.dataset.DatasetError
    │   ├── cli.UsageError (flags), table.NoLogsError (no logs where they should be)
    │   ├── cost.CostError, policies.provider.UnknownPolicyError
    │   ├── importers.records.ImportProblems (one line per bad record, then a count)
    │   └── reward_hints.answers.dataset.AnswersError
    ├── SetupError (a RuntimeError): this machine cannot do it; the message says what to
    │   │                            install or change
    │   ├── sandbox.machine.MachineError (and MachineDied, a machine that died mid-episode)
    │   ├── sandbox.helpers.HelperBuildError, local_model.model.LocalModelError
    │   └── traces.semantic.SemanticUnavailable, finetune.train.FinetuneUnavailable,
    │       finetune.export.ExportError
    ├── adaptive.RoundUnfinished (a RuntimeError): a round of an adaptive sweep or study
    │   did not finish; running the same command again resumes it (exit status 1)
    └── internal, caught where they arise and turned into a record's status or a
        problem line: traces.layers.JudgeError, importers.chat.MessageError

A log store that cannot be used (credentials, bucket, endpoint) raises the store's own
errors, listed as `logstore.StoreError`; the command reports those as one line too.
"""

from __future__ import annotations


class CorrigibenchError(Exception):
    """Base of every error corrigibench raises on purpose."""


class InputError(CorrigibenchError, ValueError):
    """Input a person can fix: a file, a flag, a name. The message says which and how."""


class SetupError(CorrigibenchError, RuntimeError):
    """What this machine lacks to do the work: the message says what to install or change."""
