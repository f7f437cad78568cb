"""Connection strings: what a `VehicleSession` is addressed by, validated up front."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from drone_ops.errors import DroneOpsError

__all__ = ["PX4_API_PORT", "LinkAddress", "LinkAddressError", "LinkKind", "parse_address"]

PX4_API_PORT = 14540  # PX4 SITL instance i sends its API link to 14540+i

_HELP = (
    "use udpin://HOST:PORT, udpout://HOST:PORT, serial:///dev/ttyX:BAUD "
    "or px4:I (PX4 SITL instance I)"
)
_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1500000, 3000000)


class LinkAddressError(DroneOpsError, ValueError):
    """A connection string cannot be used."""


class LinkKind(StrEnum):
    UDP_IN = "udpin"  # we bind and listen; the vehicle sends to us (PX4 SITL's API link)
    UDP_OUT = "udpout"  # we send to the vehicle's address and listen on our ephemeral port
    SERIAL = "serial"  # a telemetry radio or USB autopilot


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkAddress:
    kind: LinkKind
    host: str = ""
    port: int = 0
    device: str = ""
    baud: int = 0

    def __str__(self) -> str:
        if self.kind is LinkKind.SERIAL:
            return f"serial://{self.device}:{self.baud}"
        return f"{self.kind.value}://{self.host}:{self.port}"


def _port(text: str, url: str, *, allow_any: bool) -> int:
    low = 0 if allow_any else 1
    if not text.isdigit() or not (low <= int(text) < 65536):
        raise LinkAddressError(f"{url!r}: port {text!r} must be {low}..65535; {_HELP}")
    return int(text)


_HOST_PORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^:/\[\]]*):(?P<port>[^:/]*)$")


def parse_address(url: str) -> LinkAddress:
    """Parse and validate a connection string; the error says what to write instead."""
    text = url.strip()
    if m := re.fullmatch(r"px4:(\d+)", text):
        instance = int(m.group(1))
        if instance > 255:
            raise LinkAddressError(f"{url!r}: PX4 instance {instance} must be 0..255")
        return LinkAddress(kind=LinkKind.UDP_IN, host="0.0.0.0", port=PX4_API_PORT + instance)
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise LinkAddressError(f"{url!r} is not a connection string; {_HELP}")
    scheme = scheme.lower()
    if scheme == "serial":
        device, colon, baud_text = rest.rpartition(":")
        if not colon or not device.startswith("/"):
            raise LinkAddressError(f"{url!r}: serial needs a device path and a baud rate; {_HELP}")
        if not baud_text.isdigit() or int(baud_text) not in _BAUDS:
            raise LinkAddressError(
                f"{url!r}: baud rate {baud_text!r} is not one of {', '.join(map(str, _BAUDS))}"
            )
        return LinkAddress(kind=LinkKind.SERIAL, device=device, baud=int(baud_text))
    if scheme in ("udpin", "udp", "udpout"):
        m = _HOST_PORT.fullmatch(rest)
        if m is None:
            raise LinkAddressError(f"{url!r}: expected HOST:PORT after '{scheme}://'; {_HELP}")
        host = m.group("host").strip("[]")
        port = _port(m.group("port"), url, allow_any=scheme != "udpout")  # udpin 0: any free port
        if scheme == "udpout":
            if not host or host == "0.0.0.0":
                raise LinkAddressError(
                    f"{url!r}: udpout needs the vehicle's host, e.g. udpout://192.168.1.10:{port}"
                )
            return LinkAddress(kind=LinkKind.UDP_OUT, host=host, port=port)
        return LinkAddress(kind=LinkKind.UDP_IN, host=host or "0.0.0.0", port=port)
    raise LinkAddressError(f"{url!r}: unknown scheme {scheme!r}; {_HELP}")
