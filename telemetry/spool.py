"""An on-disk FIFO that a lossless subscription spills to when it falls behind.

Records are pickled (the file is private to this process, created 0600 in a
fresh temporary directory, and never read by anything else) and framed with a
length prefix. Appends go through a buffered file so that the publisher pays
a memory copy, not a disk write; reads flush first. When the reader catches up
the file is truncated, so a subscription that recovers gives its disk back.
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Final, Generic, TypeVar

from telemetry.errors import TelemetryError

__all__ = ["DiskSpool"]

T = TypeVar("T")

_HEADER: Final = struct.Struct(">QI")  # enqueue time (monotonic ns), payload length


class DiskSpool(Generic[T]):
    """FIFO of ``(enqueued_ns, item)`` records in a file; not thread-safe."""

    def __init__(self, directory: Path | None = None, *, name: str = "spool") -> None:
        try:
            self._dir = Path(tempfile.mkdtemp(prefix=f"drone-ops-{name}-", dir=directory))
            self._path = self._dir / "spool.bin"
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            self._writer = os.fdopen(fd, "ab", buffering=1 << 16)
            # Unbuffered: a buffered reader may serve bytes from before a truncate.
            self._reader = open(self._path, "rb", buffering=0)  # noqa: SIM115 - see close()
        except OSError as exc:
            raise TelemetryError(
                f"cannot create a spool file under {directory or tempfile.gettempdir()}: "
                f"{exc.strerror}; free some disk space or choose another spool directory"
            ) from exc
        self._count = 0
        self._bytes = 0
        self._read_pos = 0
        self._head_ns: int | None = None  # enqueue time of the oldest record, for lag

    @property
    def path(self) -> Path:
        return self._path

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        """Bytes of records not read back yet."""
        return self._bytes

    @property
    def head_enqueued_ns(self) -> int | None:
        return self._head_ns

    def append(self, enqueued_ns: int, item: T) -> None:
        """Write one record (buffered). Raises OSError if the disk is full."""
        payload = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_HEADER.pack(enqueued_ns, len(payload)))
        self._writer.write(payload)
        if self._count == 0:
            self._head_ns = enqueued_ns
        self._count += 1
        self._bytes += _HEADER.size + len(payload)

    def read(self, max_items: int) -> list[tuple[int, T]]:
        """Take up to `max_items` of the oldest records, in order."""
        if self._count == 0:
            return []
        self._writer.flush()
        self._reader.seek(self._read_pos)
        out: list[tuple[int, T]] = []
        while len(out) < max_items and self._count > 0:
            enqueued_ns, length = _HEADER.unpack(self._reader.read(_HEADER.size))
            item: T = pickle.loads(self._reader.read(length))  # our own private file
            out.append((enqueued_ns, item))
            self._count -= 1
            self._bytes -= _HEADER.size + length
        self._read_pos = self._reader.tell()
        if self._count == 0:
            self._writer.seek(0)  # the fd has no O_APPEND: move the write position back too
            self._writer.truncate()
            self._read_pos = 0
            self._head_ns = None
        else:
            self._head_ns, _ = _HEADER.unpack(self._reader.read(_HEADER.size))
        return out

    def close(self) -> None:
        """Close and delete the spool file and its directory."""
        self._writer.close()
        self._reader.close()
        shutil.rmtree(self._dir, ignore_errors=True)
