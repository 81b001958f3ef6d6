"""The shared-memory flags of ``braid sidecar``, ``braid worker`` and ``braid ingress``.

``braid run`` sets them for every process it starts; in a pod the operator sets them for the
sidecar and the worker, which share an emptyDir with ``medium: Memory``
(docs/decisions/0012-bulk-payloads.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from braid.runtime import SharedMemorySettings

_DEFAULTS = SharedMemorySettings(directory=Path())


def add_flags(parser: argparse.ArgumentParser, *, peers: bool = True) -> None:
    parser.add_argument(
        "--shared-memory-dir",
        type=Path,
        help="a folder on a memory-backed file system (tmpfs) shared with the worker (or the "
        "sidecar) and, with --shared-memory-peers, every peer: large values cross it",
    )
    if peers:
        parser.add_argument(
            "--shared-memory-peers",
            action="store_true",
            help="every replica this process calls shares --shared-memory-dir (one host)",
        )
    parser.add_argument(
        "--shared-memory-threshold",
        type=int,
        default=_DEFAULTS.threshold,
        metavar="BYTES",
        help=f"buffers from this size go through shared memory (default {_DEFAULTS.threshold})",
    )
    parser.add_argument(
        "--shared-memory-bytes",
        type=int,
        default=_DEFAULTS.max_bytes,
        metavar="BYTES",
        help="at most this much in the folder at once; beyond it values go over the wire "
        f"(default {_DEFAULTS.max_bytes})",
    )


def settings(args: argparse.Namespace) -> SharedMemorySettings | None:
    if args.shared_memory_dir is None:
        return None
    return SharedMemorySettings(
        directory=args.shared_memory_dir,
        threshold=args.shared_memory_threshold,
        max_bytes=args.shared_memory_bytes,
    )
