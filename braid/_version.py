"""The single source of braid's version (read by pyproject.toml and ``braid --version``)."""

__version__ = "0.1.0"
