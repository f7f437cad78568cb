"""The PX4 parameters the simulator implements, with PX4's names, types and
SITL defaults, and the wire encoding PX4 uses.

Only parameters that change the simulated vehicle's behaviour are listed (a
client can read and set them and see the effect). INT32 values travel
byte-wise inside PARAM_VALUE's float (PX4 sets PARAM_ENCODE_BYTEWISE), so
MAV_SYS_ID = 1 arrives as 1.4e-45. After the list, PX4 sends the
pseudo-parameter `_HASH_CHECK` (index 65535, UINT32) whose value is a CRC32
over every name and value, which ground stations use to cache the list.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["HASH_CHECK_INDEX", "PX4_PARAMS", "ParamSpec", "ParamStore", "ParamType"]

HASH_CHECK_INDEX = 65535


class ParamType(IntEnum):
    """MAV_PARAM_TYPE values used by PX4."""

    UINT32 = 5
    INT32 = 6
    REAL32 = 9


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamSpec:
    name: str
    type: ParamType
    default: float
    min: float = -math.inf
    max: float = math.inf


def _i(name: str, default: int, lo: float = -math.inf, hi: float = math.inf) -> ParamSpec:
    return ParamSpec(name=name, type=ParamType.INT32, default=default, min=lo, max=hi)


def _f(name: str, default: float, lo: float = -math.inf, hi: float = math.inf) -> ParamSpec:
    return ParamSpec(name=name, type=ParamType.REAL32, default=default, min=lo, max=hi)


# Sorted by name, as PX4 streams them.
PX4_PARAMS: tuple[ParamSpec, ...] = tuple(
    sorted(
        (
            _f("BAT1_CAPACITY", 5000.0, -1, 100000),
            _i("BAT1_N_CELLS", 4, 1, 14),
            _f("BAT_CRIT_THR", 0.07, 0.05, 0.5),
            _f("BAT_EMERGEN_THR", 0.05, 0.03, 0.5),
            _f("BAT_LOW_THR", 0.15, 0.12, 0.5),
            _f("COM_DISARM_LAND", 2.0, -1, 20),
            _f("COM_DISARM_PRFLT", 10.0, -1, 20),
            _i("COM_DL_LOSS_T", 10, 5, 300),
            _i("COM_LOW_BAT_ACT", 3, 0, 3),
            _i("COM_RC_IN_MODE", 1, 0, 4),
            _i("GF_ACTION", 2, 0, 5),
            _f("GF_MAX_HOR_DIST", 0.0, 0, 10000),
            _f("GF_MAX_VER_DIST", 0.0, 0, 10000),
            _i("MAV_SYS_ID", 1, 1, 250),
            _i("MAV_TYPE", 2, 0, 40),
            _f("MIS_TAKEOFF_ALT", 2.5, 0, 100),
            _f("MPC_ACC_HOR", 3.0, 2, 15),
            _f("MPC_LAND_ALT1", 10.0, 0, 122),
            _f("MPC_LAND_SPEED", 0.7, 0.6, 10),
            _f("MPC_TKO_SPEED", 1.5, 1, 5),
            _f("MPC_XY_CRUISE", 5.0, 3, 20),
            _f("MPC_XY_VEL_MAX", 12.0, 0, 20),
            _f("MPC_YAWRAUTO_MAX", 45.0, 5, 360),
            _f("MPC_Z_VEL_MAX_DN", 1.5, 0.5, 4),
            _f("MPC_Z_VEL_MAX_UP", 3.0, 0.5, 8),
            _f("NAV_ACC_RAD", 2.0, 0.05, 200),
            _i("NAV_DLL_ACT", 0, 0, 6),
            _i("NAV_RCL_ACT", 2, 0, 6),
            _f("RTL_DESCEND_ALT", 10.0, 0, 100),
            _f("RTL_LAND_DELAY", 0.0, -1, 300),
            _f("RTL_RETURN_ALT", 30.0, 0, 150),
            _i("SYS_AUTOSTART", 10040, 0, 9999999),
            _i("SYS_FAILURE_EN", 0, 0, 1),
        ),
        key=lambda p: p.name,
    )
)

_F32 = struct.Struct("<f")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")


def encode_value(ptype: ParamType, value: float) -> float:
    """The float that carries `value` on the wire (byte-wise for integers)."""
    if ptype == ParamType.REAL32:
        return value
    packed = _I32.pack(int(value)) if ptype == ParamType.INT32 else _U32.pack(int(value))
    result: float = _F32.unpack(packed)[0]
    return result


def decode_value(ptype: ParamType, wire: float) -> float:
    """The value a PARAM_SET float carries (byte-wise for integers)."""
    if ptype == ParamType.REAL32:
        return float(_F32.unpack(_F32.pack(wire))[0])
    raw = _F32.pack(wire)
    return float(_I32.unpack(raw)[0] if ptype == ParamType.INT32 else _U32.unpack(raw)[0])


class ParamStore:
    """One vehicle's parameter values, in PX4's order."""

    __slots__ = ("_index", "_specs", "_values", "version")

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self._specs = PX4_PARAMS
        self._index = {spec.name: i for i, spec in enumerate(self._specs)}
        self._values = [spec.default for spec in self._specs]
        self.version = 0  # bumped on every set, so consumers can cache derived values
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> float:
        return self._values[self._index[name]]

    def index_of(self, name: str) -> int | None:
        return self._index.get(name)

    def spec(self, index: int) -> ParamSpec:
        return self._specs[index]

    def value(self, index: int) -> float:
        return self._values[index]

    def clamped(self, name: str) -> float:
        """The value limited to PX4's documented range (for the physics)."""
        i = self._index[name]
        spec = self._specs[i]
        return min(max(self._values[i], spec.min), spec.max)

    def set(self, name: str, value: float) -> int:
        """Store a value as PX4 does (no clamping; integers truncated); returns its index.

        Consumers clamp to `spec.min`/`spec.max` where a wild value would break physics.
        """
        i = self._index[name]
        spec = self._specs[i]
        if not math.isfinite(value):
            return i
        if spec.type != ParamType.REAL32:
            value = float(int(value))
        else:
            value = float(_F32.unpack(_F32.pack(value))[0])
        self._values[i] = value
        self.version += 1
        return i

    def hash_check(self) -> int:
        """CRC32 over names and wire values, PX4's `_HASH_CHECK`."""
        crc = 0
        for spec, value in zip(self._specs, self._values, strict=True):
            crc = zlib.crc32(spec.name.encode(), crc)
            crc = zlib.crc32(_F32.pack(encode_value(spec.type, value)), crc)
        return crc
