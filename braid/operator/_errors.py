"""Errors of ``braid.operator``.

Hierarchy::

    OperatorError             root of every error raised by braid.operator
    ├── RenderError           a graph that cannot be turned into objects (validation was bypassed)
    └── KubernetesError       the API server refused or failed a request; ``.status`` is the HTTP
        │                     status (0 when the server was not reached)
        └── ObjectNotFound    the object does not exist (404)

An invalid graph is not an error here: it becomes the Invalid condition of the graph's status.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Root of the errors raised by ``braid.operator``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RenderError(OperatorError):
    """A graph that passed no validation, or that validation let through by mistake."""


class KubernetesError(OperatorError):
    """A request to the Kubernetes API failed."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed.

        Server errors, throttling and conflicts pass; so does 403: a hardened cluster refuses a
        request until an RBAC change propagates, and the API server refuses writes while it
        starts or while a namespace terminates. Only a request the server judged wrong (400,
        404, 422) is not worth repeating unchanged.
        """
        return self.status in {0, 403, 409, 429} or self.status >= 500


class ObjectNotFound(KubernetesError):
    """The object does not exist."""
