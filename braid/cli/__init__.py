"""The ``braid`` command: ``validate``, ``crd``, ``run``, ``render``, ``operator`` and more.

The CLI is the only place that reads flags and the environment, configures logging, and turns
errors into exit codes and one-line messages; everything below it takes explicit settings.
"""

from braid.cli._main import main

__all__ = ["main"]
