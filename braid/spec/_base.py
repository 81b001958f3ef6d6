"""The base of every spec model: camelCase aliases, unknown fields forbidden, immutability.

Every model of the ``DeploymentGraph`` resource derives from :class:`SpecModel`, so that the
Python side reads in snake_case while the manifest (and the CRD generated from these models)
speaks the Kubernetes dialect of camelCase. Unknown fields are errors, so that a typo such as
``replcas`` is caught instead of silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """A frozen pydantic model with camelCase aliases that rejects unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=False,
    )
