"""The vehicle link: connection strings, transports, MAVLink frames and signing, link
state, the MAVSDK hub."""

from drone_ops.link.address import LinkAddress, LinkAddressError, LinkKind, parse_address
from drone_ops.link.hub import HubError, MavsdkHub
from drone_ops.link.policy import LinkState, ReconnectPolicy
from drone_ops.link.rotation import KeyRotationError, send_new_key
from drone_ops.link.signing import LinkSigner, LinkVerifier, SigningStats
from drone_ops.link.stats import LinkStats
from drone_ops.link.transport import TransportError

__all__ = [
    "HubError",
    "KeyRotationError",
    "LinkAddress",
    "LinkAddressError",
    "LinkKind",
    "LinkSigner",
    "LinkState",
    "LinkStats",
    "LinkVerifier",
    "MavsdkHub",
    "ReconnectPolicy",
    "SigningStats",
    "TransportError",
    "parse_address",
    "send_new_key",
]
