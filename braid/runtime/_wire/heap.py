"""The garbage collector of a long-running braid server, settled once it has started.

A braid process holds some 50,000 objects from its imports (pydantic models, protobuf
descriptors, gRPC, uvicorn) and from the user's constructed class, and they live as long as the
process. Python's full collection walks every one of them: about 20 ms on the 2-core benchmark
machine, and it comes back whenever enough objects have been promoted, which under load is
every few seconds. That pause lands on whichever requests are in flight, in every process of a
chain (issue 11, docs/benchmarks.md). :func:`settle_heap` collects the start-up garbage once,
then moves every surviving object to the permanent generation (``gc.freeze``), which no later
collection walks. Objects created afterwards are collected as usual; a reference cycle among
frozen objects that is dropped later is never collected, which is the price of a start-up
heap that is built once and kept.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def settle_heap() -> None:
    """Collect once, then exempt every object alive now from later collections."""
    gc.collect()
    gc.freeze()
    logger.debug("heap settled: %d objects frozen", gc.get_freeze_count())
