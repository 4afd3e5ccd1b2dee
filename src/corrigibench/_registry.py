"""Entry point for Inspect: registers our tasks, the `bwrap` sandbox, and the `scripted` and `local` models."""

# ruff: noqa: F401
from corrigibench.local_model.provider import local
from corrigibench.policies.provider import ScriptedModel
from corrigibench.reward_hints.task import reward_hints
from corrigibench.sandbox.bwrap import BwrapSandbox
from corrigibench.shutdown.task import shutdown
