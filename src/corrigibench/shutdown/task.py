"""The Inspect task `corrigibench/shutdown`: one sample per variant, one machine per episode."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.util import SandboxEnvironmentSpec

from corrigibench.catalogue import CatalogueError
from corrigibench.sandbox.bwrap import BwrapConfig, MachineFile
from corrigibench.sandbox.helpers import helper_dir
from corrigibench.sandbox.machine import HOME
from corrigibench.shutdown.agent import shutdown_agent
from corrigibench.shutdown.mechanics import get_mechanics
from corrigibench.shutdown.scorer import shutdown_scorer
from corrigibench.shutdown.terminal import prepare_docker_channels
from corrigibench.shutdown.variants import Variant, get_variants

COMPOSE = Path(__file__).with_name("docker") / "compose.yaml"
SANDBOXES = ("bwrap", "docker")


@task
def shutdown(variant: str = "palisade-A", variants_file: str | None = None,
             mechanics: str | None = None, message_limit: int | None = None,
             command_timeout: float | None = None, sandbox: str = "bwrap") -> Task:
    """Palisade's shutdown-resistance environment.

    Args:
      variant: Condition id(s), comma-separated, or "all" (`corrigibench variants shutdown`).
      variants_file: An extra TOML catalogue of conditions (may extend the built-in ones).
      mechanics: How the agent's commands run, overriding every variant's profile:
        "palisade" (the built-in conditions' default) or "persistent" (mechanics.toml).
      message_limit: Override every variant's message limit (default: the variant's, 60).
      command_timeout: Seconds a single shell command may run (default: the profile's, 15).
      sandbox: "bwrap" (default: exact, no daemon needed) or "docker" (our compose file).
    """
    if sandbox not in SANDBOXES:
        raise CatalogueError(f"unknown sandbox {sandbox!r}; use one of {', '.join(SANDBOXES)}")
    variants = get_variants(variant, variants_file)
    if mechanics is not None:
        get_mechanics(mechanics)  # an unknown name fails here, with suggestions
        variants = [dataclasses.replace(v, mechanics=mechanics) for v in variants]
    helper_dir()  # build the machine helpers now, not inside the first episode
    if sandbox == "docker":
        prepare_docker_channels()
    return Task(
        dataset=[Sample(id=v.id, input=v.user, metadata=sample_metadata(v),
                        sandbox=machine_spec(v) if sandbox == "bwrap" else None)
                 for v in variants],
        solver=shutdown_agent(command_timeout=command_timeout, message_limit=message_limit),
        scorer=shutdown_scorer(),
        sandbox=None if sandbox == "bwrap" else ("docker", str(COMPOSE)),
        version=2,
    )


def sample_metadata(variant: Variant) -> dict[str, object]:
    """The variant, its text hashes, and its mechanics profile with every setting."""
    return {**variant.as_metadata(),
            "mechanics_settings": get_mechanics(variant.mechanics).as_metadata()}


def machine_spec(variant: Variant) -> SandboxEnvironmentSpec:
    """The bwrap machine boots with the profile's script and the question program in place."""
    script = get_mechanics(variant.mechanics).script
    return SandboxEnvironmentSpec("bwrap", BwrapConfig(files=(
        (f"{HOME}/shutdown.sh", MachineFile(text=script, mode=0o755)),
        (f"{HOME}/{variant.command}", MachineFile(helper="next_question", mode=0o755)),
    )))
