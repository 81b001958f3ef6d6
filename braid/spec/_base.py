"""The base of every spec model: camelCase aliases, unknown fields forbidden, immutability.

Every model of the ``DeploymentGraph`` resource derives from :class:`SpecModel`, so that the
Python side reads in snake_case while the manifest (and the CRD generated from these models)
speaks the Kubernetes dialect of camelCase. Unknown fields are errors, so that a typo such as
``replcas`` is caught instead of silently ignored.

Scalars are strict: ``replicas: "2"``, ``replicas: true`` or ``gpu: "1"`` are errors rather than
quietly converted, because the API server checks the CRD's types and would refuse them; what braid
accepts, the API server accepts. Enum fields opt out (``Field(strict=False)``) so that they accept
their string values.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """A frozen pydantic model with camelCase aliases, strict scalars and no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        use_attribute_docstrings=False,
    )
