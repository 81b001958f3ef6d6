"""Local mode: a whole graph as processes on loopback, behind ``braid run`` and ``run()``.

The top layer of the runtime: it starts sidecars and an ingress as child processes and talks to
them only over the wire.

- :mod:`.launching`: the :class:`~.launching.Launcher`, its ports and its peers file;
- :mod:`.processes`: child processes, their readiness, restarts and shutdown;
- :mod:`.apps`: the Python entry point :func:`~.apps.run` and the :class:`~.apps.App` it returns.
"""
