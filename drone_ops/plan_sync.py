"""The check that the vehicle holds the plan.

After an upload the runner downloads mission, fence and rally lists again and
compares them item by item with what `missions.mavlink` produced: a vehicle
that silently dropped, reordered or rounded away an item must not fly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from missions.mavlink import MavItem

__all__ = ["first_difference"]

_FLOAT_FIELDS = ("param1", "param2", "param3", "param4", "z")
_INT_FIELDS = ("command", "x", "y")
# MAV_FRAME_*_INT are the same frames for MISSION_ITEM_INT (PX4 echoes 5 for 0, 6 for 3).
_SAME_FRAME = {5: 0, 6: 3, 11: 10}
_FLOAT_TOL = 1e-3  # float32 round trip on the vehicle


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
