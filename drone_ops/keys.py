"""Per-vehicle MAVLink signing keys, kept outside the repository.

One file per vehicle, `<dir>/<vehicle>.key`: 64 hex digits, mode 0600. The
default directory is `~/.config/drone-ops/keys` (`DRONE_OPS_KEY_DIR`
overrides it). A key readable by group or others is refused: a leaked key
lets anyone command the vehicle. Only fingerprints (first 16 hex digits of
the key's SHA-256) ever leave this module — in listings and audit entries.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drone_ops.audit import AuditLog
from drone_ops.errors import DroneOpsError
from drone_ops.link.address import LinkAddress

__all__ = [
    "KEY_BYTES",
    "KeyInfo",
    "KeyStore",
    "SigningKeyError",
    "default_key_dir",
    "fingerprint",
    "read_key_file",
    "record_key_change",
    "rotate_key",
]

KEY_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SigningKeyError(DroneOpsError):
    """A signing key is missing, malformed or not private."""


def default_key_dir() -> Path:
    env = os.environ.get("DRONE_OPS_KEY_DIR")
    if env:
        return Path(env)
    return Path.home() / ".config" / "drone-ops" / "keys"


def fingerprint(key: bytes) -> str:
    """Names a key without revealing it (audit entries, listings)."""
    return hashlib.sha256(key).hexdigest()[:16]


def read_key_file(path: Path) -> bytes:
    """A key file's 32 bytes; refuses one that others may read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SigningKeyError(
            f"no signing key at {path}; make one with 'drone-ops keys generate VEHICLE'"
        ) from None
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            f"signing key {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run 'chmod 600 {path}' (and consider it leaked: rotate it)"
        )
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SigningKeyError(
            f"signing key {path} is not 64 hex digits; regenerate it with 'drone-ops keys generate'"
        )
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    vehicle_id: str
    path: Path
    fingerprint: str
    modified_unix_s: float


class KeyStore:
    """The key directory: one key per vehicle."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_key_dir()

    def path(self, vehicle_id: str) -> Path:
        if not _NAME.match(vehicle_id):
            raise SigningKeyError(
                f"vehicle name {vehicle_id!r} cannot name a key file: "
                "use letters, digits, '_', '.', '-'"
            )
        return self.directory / f"{vehicle_id}.key"

    def has(self, vehicle_id: str) -> bool:
        return self.path(vehicle_id).exists()

    def load(self, vehicle_id: str) -> bytes:
        return read_key_file(self.path(vehicle_id))

    def load_optional(self, vehicle_id: str) -> bytes | None:
        """The vehicle's key, or None when it has none (its link stays unsigned)."""
        return self.load(vehicle_id) if self.has(vehicle_id) else None

    def save(self, vehicle_id: str, key: bytes, *, suffix: str = ".key") -> Path:
        """Write atomically with mode 0600 (never briefly readable by others)."""
        if len(key) != KEY_BYTES:
            raise SigningKeyError("a signing key is 32 bytes")
        target = self.path(vehicle_id).with_suffix(suffix)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (key.hex() + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        return target

    def generate(self, vehicle_id: str, *, overwrite: bool = False) -> bytes:
        if self.has(vehicle_id) and not overwrite:
            raise SigningKeyError(
                f"vehicle {vehicle_id} already has a key ({self.path(vehicle_id)}); "
                "change it with 'drone-ops keys rotate', which tells the vehicle too"
            )
        key = secrets.token_bytes(KEY_BYTES)
        self.save(vehicle_id, key)
        return key

    def list(self) -> list[KeyInfo]:
        if not self.directory.is_dir():
            return []
        out: list[KeyInfo] = []
        for path in sorted(self.directory.glob("*.key")):
            out.append(
                KeyInfo(
                    vehicle_id=path.stem,
                    path=path,
                    fingerprint=fingerprint(read_key_file(path)),
                    modified_unix_s=path.stat().st_mtime,
                )
            )
        return out


async def record_key_change(
    audit: AuditLog, *, actor: str, action: str, vehicle_id: str, payload: dict[str, Any]
) -> None:
    """An audit entry for a key change: fingerprints only, never key material."""
    await audit.append(actor=actor, action=action, target=f"vehicle:{vehicle_id}", payload=payload)


async def rotate_key(
    keys: KeyStore,
    vehicle_id: str,
    address: LinkAddress,
    *,
    audit: AuditLog,
    actor: str,
    timeout_s: float = 10.0,
) -> tuple[str, str]:
    """Give the vehicle a fresh key over its link, then keep it; (old, new) fingerprints.

    The new key is written to `<vehicle>.key.new` before it is sent, so a vehicle
    that switched while its confirmation was lost is not locked out.
    """
    from drone_ops.link.rotation import KeyRotationError, send_new_key

    old_key = keys.load_optional(vehicle_id)
    new_key = secrets.token_bytes(KEY_BYTES)
    pending = keys.save(vehicle_id, new_key, suffix=".key.new")
    old_fp = fingerprint(old_key) if old_key is not None else None
    new_fp = fingerprint(new_key)
    await record_key_change(
        audit,
        actor=actor,
        action="key.rotate_requested",
        vehicle_id=vehicle_id,
        payload={"old_fingerprint": old_fp, "new_fingerprint": new_fp, "address": str(address)},
    )
    try:
        sysid = await send_new_key(address, old_key=old_key, new_key=new_key, timeout_s=timeout_s)
    except KeyRotationError as exc:
        await record_key_change(
            audit,
            actor=actor,
            action="key.rotate_failed",
            vehicle_id=vehicle_id,
            payload={"old_fingerprint": old_fp, "new_fingerprint": new_fp, "error": str(exc)},
        )
        raise SigningKeyError(f"{exc} (the unconfirmed new key is kept in {pending})") from exc
    os.replace(pending, keys.path(vehicle_id))
    await record_key_change(
        audit,
        actor=actor,
        action="key.rotated",
        vehicle_id=vehicle_id,
        payload={"old_fingerprint": old_fp, "new_fingerprint": new_fp, "system_id": sysid},
    )
    return old_fp or "-", new_fp
