"""Where video files live: a key/value interface over finished files.

Keys are relative POSIX paths (`segments/v1/20250101/v1-20250101T101500.000Z.mp4`).
Files are written locally first (muxers need a seekable file) and handed over
whole with `put_file`, which is what an S3-compatible store needs too
(multipart upload of a finished file, then remove the local copy);
`LocalBlobStore` simply renames the file into its directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Protocol, runtime_checkable

from telemetry.video.errors import BlobError

__all__ = ["BlobStore", "LocalBlobStore", "check_key"]

_KEY = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise BlobError(
            f"blob key {key!r} is not a relative path of letters, digits, '._-' and '/'"
        )
    return key


@runtime_checkable
class BlobStore(Protocol):
    """Finished video files by key. Implementations: local directory; S3-compatible later."""

    def uri(self, key: str) -> str:
        """Where the blob can be fetched from (file:// or s3://), for evidence records."""
        ...

    def staging_dir(self) -> Path:
        """A local directory for files being written (same filesystem as the store if local)."""
        ...

    async def put_file(self, key: str, source: Path) -> int:
        """Take over the finished local file `source` as `key`; returns its size in bytes."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> int: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def fetch(self, key: str, dest: Path) -> Path:
        """A local file with the blob's bytes (the blob itself when it is already local)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove `key`; False if it was not there."""
        ...

    async def list(self, prefix: str = "") -> list[str]: ...


class LocalBlobStore:
    """Blobs as files under one directory (the embedded default is ./var/video)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / ".staging").mkdir(exist_ok=True)
        except OSError as exc:
            raise BlobError(
                f"video directory {root} cannot be created ({exc.strerror}): pick a writable path"
            ) from exc

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def staging_dir(self) -> Path:
        return self.root / ".staging"

    async def put_file(self, key: str, source: Path) -> int:
        dest = self.path(key)

        def move() -> int:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, dest)
            return dest.stat().st_size

        try:
            return await asyncio.to_thread(move)
        except OSError as exc:
            raise BlobError(f"cannot store {key} in {self.root} ({exc.strerror})") from exc

    async def put_bytes(self, key: str, data: bytes) -> int:
        dest = self.path(key)

        def write() -> int:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.staging_dir() / (dest.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
            return len(data)

        try:
            return await asyncio.to_thread(write)
        except OSError as exc:
            raise BlobError(f"cannot store {key} in {self.root} ({exc.strerror})") from exc

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except OSError as exc:
            raise BlobError(f"cannot read {key} from {self.root} ({exc.strerror})") from exc

    async def fetch(self, key: str, dest: Path) -> Path:
        src = self.path(key)
        if not src.is_file():
            raise BlobError(f"no blob {key} in {self.root}")
        await asyncio.to_thread(shutil.copyfile, src, dest)
        return dest

    async def delete(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self.path(key).unlink)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BlobError(f"cannot remove {key} from {self.root} ({exc.strerror})") from exc
        return True

    async def list(self, prefix: str = "") -> list[str]:
        def walk() -> list[str]:
            keys = []
            for p in self.root.rglob("*"):
                rel = p.relative_to(self.root).as_posix()
                if p.is_file() and not rel.startswith(".staging") and rel.startswith(prefix):
                    keys.append(rel)
            return sorted(keys)

        return await asyncio.to_thread(walk)
