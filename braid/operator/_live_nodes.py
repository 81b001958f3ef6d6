"""What a node's Deployment runs now, read back from the cluster, and the code a version pins.

The renderer's only input besides the spec: the replica count an autoscaler chose, and the model
code braid chose when the node's ``version`` was set. That choice is recorded on the Deployment
(``braid.dev/model-code``) and read back from there, never from the running container, so that a
hand edit is reverted rather than adopted (docs/rollouts.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from braid.operator._labels import MODEL_CODE_ANNOTATION, VERSION_ANNOTATION
from braid.operator._pod_rendering import ModelCode
from braid.spec import Node


@dataclass(frozen=True)
class LiveNode:
    """What a node's Deployment runs now, read back from the cluster."""

    version: str | None
    code: ModelCode | None
    replicas: int | None


def pinned_code(node: Node, wanted: ModelCode, live: LiveNode | None) -> ModelCode:
    """The code a node runs: what it runs now while its version stays, else what the spec asks."""
    if node.version is None or live is None or live.code is None:
        return wanted
    if live.version != node.version:
        return wanted
    if node.server is None:
        # The worker's command is braid's runtime contract, not the user's code: it follows braid.
        return ModelCode(live.code.image, wanted.command, wanted.args)
    return live.code


def code_json(code: ModelCode) -> str:
    value = {"image": code.image, "command": code.command, "args": code.args}
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _recorded_code(text: object) -> ModelCode | None:
    """The model code braid recorded on a Deployment, or None when absent or unreadable."""
    try:
        value = json.loads(str(text))
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("image"), str):
        return None
    command, args = value.get("command"), value.get("args")
    return ModelCode(
        value["image"],
        [str(part) for part in command] if isinstance(command, list) else None,
        [str(part) for part in args] if isinstance(args, list) else None,
    )


def live_node(deployment: Mapping[str, Any]) -> LiveNode:
    """Read back what a node's Deployment runs: its version, model code and replica count.

    The model code is what braid recorded when it chose it (``braid.dev/model-code``), so that a
    hand edit of the running container never becomes the pinned code; a Deployment written by an
    earlier braid, without the record, falls back to its model container.
    """
    template = deployment.get("spec", {}).get("template", {})
    annotations = template.get("metadata", {}).get("annotations") or {}
    own = deployment.get("metadata", {}).get("annotations") or {}
    code = _recorded_code(own[MODEL_CODE_ANNOTATION]) if MODEL_CODE_ANNOTATION in own else None
    if code is None:
        containers = template.get("spec", {}).get("containers") or []
        model = next((c for c in containers if c.get("name") == "model"), None)
        if model is not None and isinstance(model.get("image"), str):
            code = ModelCode(model["image"], model.get("command"), model.get("args"))
    replicas = deployment.get("spec", {}).get("replicas")
    return LiveNode(
        version=annotations.get(VERSION_ANNOTATION),
        code=code,
        replicas=replicas if isinstance(replicas, int) else None,
    )
