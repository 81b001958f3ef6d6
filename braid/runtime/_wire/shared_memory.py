"""Shared memory between the processes of one host: large buffers written once, a reference sent.

A :class:`SharedMemory` is a folder on a memory-backed file system (``/dev/shm`` under
``braid run``, an ``emptyDir`` with ``medium: Memory`` in a pod) that a sender and its receiver
both see. Above :attr:`SharedMemorySettings.threshold`, a buffer of a ``Payload`` about to cross
a hop is written to a *segment* (a file in that folder) and only a ``SharedBuffer`` reference
(segment name, size) travels in the gRPC message (:meth:`SharedMemory.offload`). The receiver
reads the buffer back (:meth:`SharedMemory.absorb`) before anything else sees the message, so
every other part of the runtime only ever handles ordinary payloads.

Lifecycle (docs/decisions/0012-bulk-payloads.md):

- **One message, one segment, one reader.** A segment is written for exactly one message; the
  receiver removes it as soon as it has opened it, so its memory is freed once read.
- **More than one reader** (a result kept for several consumers, a reply and a continuation):
  each gets a hard link of its own to the same segment (:meth:`SharedMemory.link`: no bytes are
  copied), and the kernel frees the memory when the last name is gone and the last reader is
  done. The result store holds a name of its own and removes it when the entry goes.
- **A send that fails** (the receiver died mid-transfer, refused the call, or the call was
  cancelled) removes the segments of its message (:meth:`SharedMemory.release_message`).
- **Orphans** (a receiver that died after the reply was sent, a killed sender): each writer
  removes its own segments that are still there after ``ttl_seconds`` (a receiver reads within
  milliseconds), and every process removes any segment older than ``orphan_seconds``. ``braid
  run`` removes the whole folder when it stops; a pod's emptyDir dies with the pod.
- **Full** (the folder holds ``max_bytes``, the file system lacks space, or a write fails): the
  buffer stays in the message and goes over the wire; the fallback is counted and logged (at most
  once every 30 s), never a hang or an error.

Only a sender that knows its receiver shares the folder offloads: a client configured so (all
peers under ``braid run``, the worker behind a pod's socket), and a server replying to a caller
that sent the same folder's ``domain`` in its metadata (:data:`DOMAIN_KEY`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    FetchReply,
    Payload,
    SharedBuffer,
    StreamItem,
)
from braid.runtime._wire.errors import CodecError

logger = logging.getLogger(__name__)

#: gRPC metadata key with which a caller says which shared folder it reads (see module doc).
DOMAIN_KEY = "braid-shm"
#: The file in the folder that names it: every process that mounts the folder reads the same.
_DOMAIN_FILE = ".domain"
#: Ray Serve sends arguments over 100 KB through its object store; below about that size a
#: segment's open, write and unlink cost more than the copies through gRPC that it saves.
DEFAULT_THRESHOLD = 256 * 1024
_SEGMENT_NAME = re.compile(r"^seg-[0-9]+-[0-9a-f]{32}$")
#: Seconds between two fallback warnings: one line says the folder is full, not one per call.
_WARN_EVERY = 30.0
#: Seconds between two sweeps of the whole folder for orphans.
_SWEEP_EVERY = 60.0

Message = CallRequest | CallReply | StreamItem | FetchReply


@dataclass(frozen=True)
class SharedMemorySettings:
    """Where segments go, from which size, and how much the folder may hold."""

    directory: Path
    threshold: int = DEFAULT_THRESHOLD
    #: Bytes of segments the folder may hold at once (every process's together).
    max_bytes: int = 4 * 1024**3
    #: A writer removes its own segments still unread after this long.
    ttl_seconds: float = 120.0
    #: Any segment older than this is an orphan (its writer died): removed by whoever sweeps.
    orphan_seconds: float = 600.0


class SharedMemory:
    """Writes and reads the segments of one shared folder for this process."""

    def __init__(
        self,
        settings: SharedMemorySettings,
        *,
        on_fallback: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.directory = settings.directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.domain = _domain_of(self.directory)
        self._on_fallback = on_fallback
        self._clock = clock
        self._prefix = f"seg-{os.getpid()}-"
        #: Segments this process wrote that may still exist: name -> time to remove it.
        self._written: OrderedDict[str, float] = OrderedDict()
        self._warned_at = -_WARN_EVERY
        self._swept_at = clock()
        self.fallbacks = 0
        self.segments_written = 0
        self.bytes_written = 0

    # -- sending -------------------------------------------------------------------------------

    def offload(self, message: Message) -> list[str]:
        """Move the large buffers of every payload in ``message`` to segments, in place;
        returns the segments written (to :meth:`release` if the send fails)."""
        names: list[str] = []
        for payload in payloads_of(message):
            if payload.buffers:
                self._offload_payload(payload, names)
        if names:
            self._expire()
        return names

    def _offload_payload(self, payload: Payload, names: list[str]) -> None:
        threshold = self.settings.threshold
        for index, buffer in enumerate(payload.buffers):
            size = len(buffer)
            if size < threshold:
                continue
            name = self._write(buffer, size)
            if name is None:
                continue
            names.append(name)
            payload.shared.append(SharedBuffer(index=index, segment=name, size=size))
            payload.buffers[index] = b""

    def _write(self, buffer: Any, size: int) -> str | None:
        why = self._no_room(size)
        if why is not None:
            self._fallback(size, why)
            return None
        name = f"{self._prefix}{uuid.uuid4().hex}"
        path = self.directory / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._fallback(size, f"cannot create a segment: {exc.strerror}")
            return None
        try:
            view = memoryview(buffer)
            written = 0
            while written < size:
                written += os.write(fd, view[written:])
        except OSError as exc:  # ENOSPC on a full tmpfs: a write error, never a SIGBUS
            os.close(fd)
            _unlink(path)
            self._fallback(size, f"writing the segment failed: {exc.strerror}")
            return None
        os.close(fd)
        self._written[name] = self._clock() + self.settings.ttl_seconds
        self.segments_written += 1
        self.bytes_written += size
        return name

    def _no_room(self, size: int) -> str | None:
        """Why a segment of ``size`` bytes does not fit now, or None."""
        try:
            stats = os.statvfs(self.directory)
            held = sum(
                entry.stat().st_size
                for entry in os.scandir(self.directory)
                if entry.name.startswith("seg-")
            )
        except OSError as exc:
            return f"the folder is not usable: {exc.strerror}"
        if held + size > self.settings.max_bytes:
            return f"{held} of {self.settings.max_bytes} bytes held"
        if size > stats.f_bavail * stats.f_frsize:
            return f"{stats.f_bavail * stats.f_frsize} bytes free on its file system"
        return None

    def _fallback(self, size: int, why: str) -> None:
        self.fallbacks += 1
        if self._on_fallback is not None:
            self._on_fallback()
        now = self._clock()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "shared memory %s is full (%s): sending %d bytes over the wire instead "
                "(braid_shared_memory_fallbacks_total counts these)",
                self.directory,
                why,
                size,
            )

    def release(self, names: Iterable[str]) -> None:
        """Remove segments whose message will never be read (a failed or cancelled send)."""
        for name in names:
            self._written.pop(name, None)
            _unlink(self.directory / name)

    def write_buffer(self, buffer: Any) -> SharedBuffer | None:
        """``buffer`` (anything with the buffer protocol) in a new segment, or None when it is
        below the threshold or shared memory is full (then it stays inline)."""
        view = memoryview(buffer)
        if not view.c_contiguous:
            view = memoryview(view.tobytes())
        view = view.cast("B")
        size = view.nbytes
        if size < self.settings.threshold:
            return None
        name = self._write(view, size)
        return None if name is None else SharedBuffer(segment=name, size=size)

    def link(self, payload: Payload, *, expires: bool = True) -> Payload:
        """A copy of ``payload`` whose segments have names of their own (hard links: no bytes
        are copied), for one more message to carry; each name is read, and removed, once.
        ``expires=False``: a holder that removes them itself (the result store)."""
        if not payload.shared:
            return payload
        copy = Payload(header=payload.header, buffers=payload.buffers)
        for entry in payload.shared:
            name = f"{self._prefix}{uuid.uuid4().hex}"
            try:
                os.link(self.directory / entry.segment, self.directory / name)
            except FileNotFoundError:
                raise CodecError(
                    f"a value of {entry.size} bytes in shared memory is gone (it expired)"
                ) from None
            if expires:
                self._written[name] = self._clock() + self.settings.ttl_seconds
            copy.shared.append(SharedBuffer(index=entry.index, segment=name, size=entry.size))
        return copy

    def release_payload(self, payload: Payload) -> None:
        """Remove the segments ``payload`` refers to (it will never be read)."""
        if payload.shared:
            self.release([entry.segment for entry in payload.shared])

    def release_message(self, message: Message) -> None:
        """Remove the segments of every payload in ``message`` that nobody read (a failed
        send, or a call whose receiver is done with it)."""
        for payload in payloads_of(message):
            self.release_payload(payload)

    # -- receiving -----------------------------------------------------------------------------

    def absorb(self, message: Message) -> None:
        """Read every segment ``message`` refers to back into its payload, removing them."""
        for payload in payloads_of(message):
            if payload.shared:
                absorb_payload(payload, self)

    def read_buffers(self, payload: Payload, *, consume: bool = True) -> list[bytes]:
        """The buffers of ``payload``, those in shared memory read from their segments (and
        the segments removed, unless ``consume`` is False: a value kept for later fetches)."""
        buffers = list(payload.buffers)
        for entry in payload.shared:
            if entry.index >= len(buffers):
                raise CodecError(f"malformed payload: shared buffer {entry.index} out of range")
            buffers[entry.index] = self.read_segment(entry, consume=consume)
        return buffers

    def read_segment(self, shared: SharedBuffer, *, consume: bool = True) -> bytes:
        name = shared.segment
        if not _SEGMENT_NAME.match(name):
            raise CodecError(f"malformed payload: {name!r} is not a shared-memory segment")
        path = self.directory / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise CodecError(
                f"a value of {shared.size} bytes sent through shared memory is gone (its sender "
                "gave up on the call, or the segment expired)"
            ) from None
        try:
            if consume:
                _unlink(path)  # its memory is freed once this process is done with it
                self._written.pop(name, None)
            with os.fdopen(fd, "rb", buffering=0, closefd=False) as file:
                data = file.read(shared.size) or b""
        finally:
            os.close(fd)
        if len(data) != shared.size:
            raise CodecError(
                f"malformed payload: segment holds {len(data)} bytes, expected {shared.size}"
            )
        return data

    # -- cleaning up ---------------------------------------------------------------------------

    def _expire(self) -> None:
        now = self._clock()
        while self._written:
            name, expires = next(iter(self._written.items()))
            if expires > now:
                break
            del self._written[name]
            _unlink(self.directory / name)
        if now - self._swept_at >= _SWEEP_EVERY:
            self._swept_at = now
            self.sweep_orphans()

    def sweep_orphans(self) -> int:
        """Remove segments older than ``orphan_seconds`` (their writer died); returns how many."""
        limit = time.time() - self.settings.orphan_seconds
        removed = 0
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return 0
        for entry in entries:
            try:
                if entry.name.startswith("seg-") and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed

    def close(self) -> None:
        """Remove every segment this process wrote that nobody read."""
        self.release(list(self._written))


def absorb_payload(payload: Payload, shared: SharedMemory | None) -> None:
    """Read the segments of ``payload`` back into its buffers; CodecError if it cannot."""
    if not payload.shared:
        return
    buffers = buffers_of(payload, shared)
    del payload.buffers[:]
    payload.buffers.extend(buffers)
    del payload.shared[:]


def buffers_of(
    payload: Payload, shared: SharedMemory | None, *, consume: bool = True
) -> list[bytes] | None:
    """The buffers of ``payload`` with those in shared memory read (None: all are inline)."""
    if not payload.shared:
        return None
    if shared is None:
        raise CodecError(
            "a value arrived through shared memory, but this process has no shared-memory "
            "folder (--shared-memory-dir)"
        )
    return shared.read_buffers(payload, consume=consume)


def caller_domain(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The shared folder a caller reads, from its gRPC metadata ("" if none)."""
    for key, value in metadata or ():
        if key == DOMAIN_KEY:
            return str(value)
    return ""


def payloads_of(message: Message) -> Iterable[Payload]:
    """Every payload in ``message``, continuations and their replies included."""
    if isinstance(message, CallRequest):
        if message.HasField("args"):
            yield message.args
        for upstream in message.upstreams:
            if upstream.HasField("value"):
                yield upstream.value
        for follow in message.then:
            yield from payloads_of(follow)
    elif isinstance(message, CallReply):
        if message.HasField("result"):
            yield message.result
        for reply in message.then:
            yield from payloads_of(reply)
    elif isinstance(message, StreamItem):
        if message.HasField("item"):
            yield message.item
    elif message.HasField("value"):
        yield message.value


def _domain_of(directory: Path) -> str:
    """The folder's identity, the same for every process that mounts it."""
    path = directory / _DOMAIN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as file:
            file.write(uuid.uuid4().hex)
    for _ in range(50):  # another process may be writing it right now
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.01)
    raise OSError(f"{path} stays empty; remove it")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
