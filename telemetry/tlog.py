"""`.tlog` recording and reading: raw MAVLink frames, each after its receive time.

The format QGroundControl and MAVProxy write and pymavlink's ``mavlogfile``
reads: for every frame, an 8-byte big-endian unsigned microsecond Unix
timestamp (``struct '>Q'``) followed by the frame's bytes exactly as received
(MAVLink 1 or 2, signature included).

`TlogWriter` buffers in memory and writes from one worker thread, so a vehicle
link can call `write()` for every frame without waiting on the disk.
`TlogRecorder` rotates to a new file per sortie. `read_tlog` and `slice_tlog`
parse with pymavlink (for incident evidence: the frames between two times).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Self

from pymavlink.dialects.v20 import common as mavlink2

from telemetry.errors import TlogError

__all__ = ["TlogFrame", "TlogRecorder", "TlogWriter", "read_tlog", "slice_tlog"]

_log = logging.getLogger(__name__)

_STAMP: Final = struct.Struct(">Q")
_SAFE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _now_us() -> int:
    return time.time_ns() // 1000


class TlogWriter:
    """Appends timestamped frames to one file; an async context manager.

    `write()` is cheap and may be called from the event loop or any thread.
    The buffer is written when it reaches `flush_bytes`, every
    `flush_interval_s`, and on exit; files are opened for appending, so a
    restarted recorder never truncates evidence.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_bytes: int = 1 << 16,
        flush_interval_s: float = 1.0,
        clock_us: Callable[[], int] = _now_us,
    ) -> None:
        self._path = path
        self._flush_bytes = flush_bytes
        self._flush_interval_s = flush_interval_s
        self._clock_us = clock_us
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._frames = 0
        self._bytes_written = 0
        self._file: IO[bytes] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closed = True
        self._error: TlogError | None = None
        self._last_write: asyncio.Future[None] | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def frames(self) -> int:
        """Frames accepted so far."""
        return self._frames

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tlog")
        try:
            self._file = await self._loop.run_in_executor(self._executor, self._open)
        except BaseException:
            self._executor.shutdown()
            raise
        self._closed = False
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._flusher = self._tg.create_task(
            self._flush_loop(), name=f"tlog-flush:{self._path.name}"
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closed = True
        assert self._tg is not None
        assert self._flusher is not None
        assert self._executor is not None
        self._flusher.cancel()
        await self._tg.__aexit__(None, None, None)
        try:
            if self._error is not None:
                raise self._error
            await self.flush()
        finally:
            file = self._file
            self._file = None
            if file is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor, file.close)
            self._executor.shutdown()

    def write(self, frame: bytes, time_unix_us: int | None = None) -> None:
        """Record one raw MAVLink frame, stamped now unless a receive time is given."""
        if self._closed:
            raise TlogError(f"tlog {self._path} is closed; write inside 'async with'")
        if self._error is not None:
            raise self._error
        stamp = _STAMP.pack(self._clock_us() if time_unix_us is None else time_unix_us)
        with self._lock:
            self._buffer += stamp
            self._buffer += frame
            self._frames += 1
            full = len(self._buffer) >= self._flush_bytes
        if full:
            if threading.get_ident() == self._loop_thread:
                self._wake.set()
            else:
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._wake.set)

    async def flush(self) -> None:
        """Write what is buffered and wait until every earlier write is on disk.

        One worker thread does all writes, in submission order. Writes are
        shielded: a cancelled flusher must not cancel a queued write and lose
        its frames, so a later flush waits for it instead.
        """
        with self._lock:
            data = bytes(self._buffer)
            self._buffer.clear()
        if data:
            assert self._executor is not None
            assert self._file is not None
            self._last_write = asyncio.get_running_loop().run_in_executor(
                self._executor, self._write, self._file, data
            )
        if self._last_write is not None:
            await asyncio.shield(self._last_write)

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except TlogError as exc:  # disk full: say so at the next write, don't kill the link
                self._error = exc
                _log.error("%s", exc)
                return

    def _open(self) -> IO[bytes]:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            return open(self._path, "ab")
        except OSError as exc:
            raise TlogError(
                f"cannot open tlog {self._path} for writing: {exc.strerror}; "
                "check the recording directory"
            ) from exc

    def _write(self, file: IO[bytes], data: bytes) -> None:
        try:
            file.write(data)
            file.flush()
        except OSError as exc:
            raise TlogError(
                f"cannot write tlog {self._path}: {exc.strerror}; free disk space"
            ) from exc
        self._bytes_written += len(data)


class TlogRecorder:
    """One vehicle's recording, rotated to a new file per sortie.

    Files live in ``<directory>/<vehicle_id>/``: ``<sortie_id>.tlog`` during a
    sortie and ``ground-<UTC time>.tlog`` between sorties, so nothing the
    vehicle sent is left unrecorded.
    """

    def __init__(
        self,
        directory: Path,
        *,
        vehicle_id: str,
        flush_bytes: int = 1 << 16,
        flush_interval_s: float = 1.0,
    ) -> None:
        self._dir = directory / _check_name("vehicle id", vehicle_id)
        self._flush_bytes = flush_bytes
        self._flush_interval_s = flush_interval_s
        self._writer: TlogWriter | None = None
        self._rotating = asyncio.Lock()

    @property
    def current_path(self) -> Path | None:
        return self._writer.path if self._writer is not None else None

    async def __aenter__(self) -> Self:
        await self._rotate(self._ground_path())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        async with self._rotating:
            writer, self._writer = self._writer, None
            if writer is not None:
                await writer.__aexit__(None, None, None)

    def write(self, frame: bytes, time_unix_us: int | None = None) -> None:
        """Record a frame in the current file (see `TlogWriter.write`)."""
        if self._writer is None:
            raise TlogError("the tlog recorder is closed; write inside 'async with'")
        self._writer.write(frame, time_unix_us)

    async def start_sortie(self, sortie_id: str) -> Path:
        """Switch to ``<sortie_id>.tlog``; returns its path (for the sortie record)."""
        return await self._rotate(self._dir / f"{_check_name('sortie id', sortie_id)}.tlog")

    async def end_sortie(self) -> Path | None:
        """Close the sortie's file and go back to a ground file; returns the closed path."""
        closed = self.current_path
        await self._rotate(self._ground_path())
        return closed

    def _ground_path(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return self._dir / f"ground-{stamp}.tlog"

    async def _rotate(self, path: Path) -> Path:
        async with self._rotating:
            new = TlogWriter(
                path, flush_bytes=self._flush_bytes, flush_interval_s=self._flush_interval_s
            )
            await new.__aenter__()
            old, self._writer = self._writer, new  # frames from here on go to the new file
            if old is not None:
                await old.__aexit__(None, None, None)
            return path


def _check_name(what: str, name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise TlogError(
            f"{what} {name!r} cannot be a file name; use letters, digits, '.', '-' or '_'"
        )
    return name


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True, kw_only=True)
class TlogFrame:
    """One recorded frame. `message` is pymavlink's decoded message object."""

    time_unix_us: int
    msg_type: str  # e.g. "GLOBAL_POSITION_INT"; "BAD_DATA" if it failed its checksum
    msg_id: int
    system_id: int
    component_id: int
    frame: bytes  # exactly the bytes received
    message: Any


def read_tlog(path: Path) -> Iterator[TlogFrame]:
    """Every frame of a .tlog in file order. A truncated last record (a crash while
    writing) ends the iteration; a file that is not a tlog raises `TlogError`."""
    parser = mavlink2.MAVLink(None)
    parser.robust_parsing = True
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally of this generator
    except OSError as exc:
        raise TlogError(f"cannot read tlog {path}: {exc.strerror}; check the path") from exc
    with f:
        while True:
            stamp = f.read(_STAMP.size)
            if len(stamp) < _STAMP.size:
                return
            (time_unix_us,) = _STAMP.unpack(stamp)
            msg = None
            while msg is None:
                chunk = f.read(parser.bytes_needed())
                msg = parser.parse_char(chunk)
                if msg is None and not chunk:
                    return  # truncated frame at the end of the file
            if msg.get_type() == "BAD_DATA" and msg.get_msgbuf()[:1] not in (b"\xfd", b"\xfe"):
                raise TlogError(
                    f"{path} is not a .tlog (no MAVLink frame after the timestamp at byte "
                    f"{f.tell() - len(msg.get_msgbuf()) - _STAMP.size})"
                )
            yield TlogFrame(
                time_unix_us=time_unix_us,
                msg_type=msg.get_type(),
                msg_id=msg.get_msgId(),
                system_id=msg.get_srcSystem(),
                component_id=msg.get_srcComponent(),
                frame=bytes(msg.get_msgbuf()),
                message=msg,
            )


def slice_tlog(source: Path, dest: Path, *, start_unix_us: int, end_unix_us: int) -> int:
    """Copy the frames received in ``[start, end]`` into a new .tlog; returns how many.

    Blocking file I/O: from async code call it with ``asyncio.to_thread``.
    """
    if end_unix_us < start_unix_us:
        raise TlogError("tlog slice ends before it starts; swap the two times")
    count = 0
    try:
        with open(dest, "xb") as out:
            for frame in read_tlog(source):
                if start_unix_us <= frame.time_unix_us <= end_unix_us:
                    out.write(_STAMP.pack(frame.time_unix_us))
                    out.write(frame.frame)
                    count += 1
    except FileExistsError as exc:
        raise TlogError(f"{dest} already exists; evidence files are never overwritten") from exc
    except OSError as exc:
        raise TlogError(f"cannot write tlog slice {dest}: {exc.strerror}") from exc
    return count
