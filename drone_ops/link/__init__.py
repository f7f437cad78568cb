"""The vehicle link: connection strings, transports, MAVLink frames, link state, the MAVSDK hub."""

from drone_ops.link.address import LinkAddress, LinkAddressError, LinkKind, parse_address
from drone_ops.link.hub import HubError, MavsdkHub
from drone_ops.link.policy import LinkState, ReconnectPolicy
from drone_ops.link.stats import LinkStats
from drone_ops.link.transport import TransportError

__all__ = [
    "HubError",
    "LinkAddress",
    "LinkAddressError",
    "LinkKind",
    "LinkState",
    "LinkStats",
    "MavsdkHub",
    "ReconnectPolicy",
    "TransportError",
    "parse_address",
]
