"""Changing a vehicle's signing key over its own link (SETUP_SIGNING).

The vehicle answers SETUP_SIGNING with nothing, so the change is confirmed by
what it sends next: frames signed with the new key. SETUP_SIGNING is signed
with the old key (a signing vehicle ignores it otherwise) and resent until
the new key is seen or the time is up; UDP may lose either.
"""

from __future__ import annotations

import asyncio

from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.errors import DroneOpsError
from drone_ops.link.address import LinkAddress
from drone_ops.link.frames import FrameSplitter
from drone_ops.link.signing import LinkSigner, LinkVerifier, signing_timestamp
from drone_ops.link.transport import open_transport

__all__ = ["KeyRotationError", "send_new_key"]

_GCS_SYSID = 245
_GCS_COMPID = 190
_AUTOPILOT_COMPID = 1
_RESEND_S = 0.5


class KeyRotationError(DroneOpsError):
    """The vehicle did not take the new key."""


async def send_new_key(
    address: LinkAddress,
    *,
    old_key: bytes | None,
    new_key: bytes,
    system_id: int | None = None,
    timeout_s: float = 10.0,
) -> int:
    """Tell the vehicle at `address` to sign with `new_key`; returns its system id.

    `old_key` None: the vehicle does not sign yet (first provisioning).
    """
    old = LinkVerifier(old_key) if old_key is not None else None
    new = LinkVerifier(new_key)
    splitter = FrameSplitter(stream=False)
    found: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    switched = asyncio.Event()

    def on_bytes(data: bytes) -> None:
        for frame in splitter.feed(data):
            if frame.compid != _AUTOPILOT_COMPID or (
                system_id is not None and frame.sysid != system_id
            ):
                continue
            signed = frame.header_len == 10 and frame.raw[2] & 0x01
            if signed and new.accept(frame) and new.accepted_signed:
                switched.set()
            elif not found.done() and (
                (old is not None and signed and old.accept(frame))
                or (old is None and not signed and frame.msgid == 0)
            ):
                found.set_result(frame.sysid)

    transport = await open_transport(address, on_bytes)
    try:
        try:
            async with asyncio.timeout(timeout_s):
                sysid = await found
        except TimeoutError:
            which = "signed with the current key" if old_key is not None else "unsigned"
            raise KeyRotationError(
                f"no heartbeat {which} from {address} within {timeout_s:.0f} s; "
                "check the address and that the key file is this vehicle's"
            ) from None
        mav = mavlink2.MAVLink(None, srcSystem=_GCS_SYSID, srcComponent=_GCS_COMPID)
        msg = mav.setup_signing_encode(sysid, _AUTOPILOT_COMPID, list(new_key), signing_timestamp())
        frame = bytes(msg.pack(mav))
        signer = LinkSigner(old_key) if old_key is not None else None
        try:
            async with asyncio.timeout(timeout_s):
                while not switched.is_set():
                    out = signer.sign(frame) if signer is not None else frame
                    if out is not None:
                        transport.send(out)
                    try:
                        async with asyncio.timeout(_RESEND_S):
                            await switched.wait()
                    except TimeoutError:
                        continue
        except TimeoutError:
            raise KeyRotationError(
                f"vehicle {sysid} at {address} did not switch to the new key within "
                f"{timeout_s:.0f} s; the key files are unchanged, try again"
            ) from None
        return sysid
    finally:
        transport.close()
