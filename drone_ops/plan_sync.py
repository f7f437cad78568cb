"""Plan ↔ vehicle: MAVSDK's raw mission items, and the check that the vehicle holds the plan.

After an upload the runner downloads mission, fence and rally lists again and
compares them item by item with what `missions.mavlink` produced: a vehicle
that silently dropped, reordered or rounded away an item must not fly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from mavsdk.plugins.mission_raw import MissionItem as SdkItem

from missions.mavlink import MavItem

__all__ = ["first_difference", "from_sdk", "to_sdk"]

_FLOAT_FIELDS = ("param1", "param2", "param3", "param4", "z")
_INT_FIELDS = ("command", "x", "y")
# MAV_FRAME_*_INT are the same frames for MISSION_ITEM_INT (PX4 echoes 5 for 0, 6 for 3).
_SAME_FRAME = {5: 0, 6: 3, 11: 10}
_FLOAT_TOL = 1e-3  # float32 round trip on the vehicle


def to_sdk(items: Iterable[MavItem]) -> list[Any]:
    """MAVSDK's items; MAVSDK insists that exactly one (the first) is marked current."""
    return [
        SdkItem(
            seq=i.seq,
            frame=int(i.frame),
            command=int(i.command),
            current=1 if n == 0 else 0,
            autocontinue=i.autocontinue,
            param1=i.param1,
            param2=i.param2,
            param3=i.param3,
            param4=i.param4,
            x=i.x,
            y=i.y,
            z=i.z,
            mission_type=int(i.mission_type),
        )
        for n, i in enumerate(items)
    ]


def from_sdk(items: Iterable[Any]) -> list[MavItem]:
    return [
        MavItem(
            seq=int(i.seq),
            frame=int(i.frame),
            command=int(i.command),
            current=int(i.current),
            autocontinue=int(i.autocontinue),
            param1=float(i.param1),
            param2=float(i.param2),
            param3=float(i.param3),
            param4=float(i.param4),
            x=int(i.x),
            y=int(i.y),
            z=float(i.z),
            mission_type=int(i.mission_type),
        )
        for i in items
    ]


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= _FLOAT_TOL * max(1.0, abs(a))


def first_difference(what: str, planned: Sequence[MavItem], held: Sequence[MavItem]) -> str | None:
    """None when the vehicle holds exactly the planned items, else the first difference."""
    if len(planned) != len(held):
        return f"{what}: planned {len(planned)} items, the vehicle holds {len(held)}"
    for p, h in zip(planned, held, strict=True):
        pf, hf = int(p.frame), int(h.frame)
        if _SAME_FRAME.get(pf, pf) != _SAME_FRAME.get(hf, hf):
            return f"{what} item {p.seq}: frame planned {pf}, vehicle holds {hf}"
        for name in _INT_FIELDS:
            if int(getattr(p, name)) != int(getattr(h, name)):
                return (
                    f"{what} item {p.seq}: {name} planned {getattr(p, name)}, "
                    f"vehicle holds {getattr(h, name)}"
                )
        for name in _FLOAT_FIELDS:
            if not _same_float(float(getattr(p, name)), float(getattr(h, name))):
                return (
                    f"{what} item {p.seq}: {name} planned {getattr(p, name)}, "
                    f"vehicle holds {getattr(h, name)}"
                )
    return None
