"""Sorties left open in the store by a controller that died, and how one is followed to its end.

Two ways a sortie loses its controller mid-flight:

- another controller died: its lease expires and we take the vehicle over
  (`Scheduler._adopt_orphans`, audit action `sortie.take_over`);
- this controller died (SIGKILL, power loss) and was started again with the
  same name: at start-up, before it claims anything, it finds the sorties
  still open under its own name (`Scheduler._resume_leftovers`, audit action
  `sortie.resume_after_restart`).

Either way the vehicle kept flying on its own (PX4 flies a mission without a
ground station). The adopter does not restart or re-upload anything: it waits
until it really knows the vehicle's state, sends it home only if the mission
is finished and nothing brings it back, waits until it is down and disarmed,
and closes the sortie with what actually happened.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from drone_ops.commands import VehicleError
from drone_ops.errors import DroneOpsError
from drone_ops.link.policy import LinkState
from drone_ops.session import VehicleSession
from drone_ops.sortie import SortieOutcome
from drone_ops.state import FlightMode, LandedState, VehicleState
from drone_ops.store import Store
from drone_ops.store.audit_chain import append_in_tx
from drone_ops.store.engine import read_tx, write_tx
from drone_ops.store.schema import sorties

__all__ = ["Followed", "OpenSortie", "follow_to_the_ground", "note_adoption", "open_sorties"]

log = logging.getLogger(__name__)

_RETURNING = (FlightMode.AUTO_RTL, FlightMode.AUTO_LAND, FlightMode.AUTO_PRECLAND)
_RETURN_KINDS = ("return_to_launch", "land")  # missions.plan.ItemKind values
# PX4 streams MISSION_CURRENT at 1 Hz; a vehicle with no mission never reports a total
_MISSION_TOTAL_WAIT_S = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenSortie:
    """A sortie row with no end yet."""

    sortie_id: int
    vehicle_id: str
    controller: str
    ends_with_return: bool  # the plan's last item brings the vehicle home by itself


@dataclass(frozen=True, slots=True, kw_only=True)
class Followed:
    """How an adopted sortie ended."""

    outcome: SortieOutcome
    detail: str
    sent_home: bool


def open_sorties(
    store: Store, *, mine: str | None = None, not_mine: str | None = None
) -> list[OpenSortie]:
    """Open sorties stamped with a controller: `mine` selects that controller's,
    `not_mine` everyone else's. Oldest first."""
    query = select(
        sorties.c.sortie_id, sorties.c.vehicle_id, sorties.c.controller, sorties.c.plan_json
    ).where(sorties.c.ended_us.is_(None), sorties.c.controller.is_not(None))
    if mine is not None:
        query = query.where(sorties.c.controller == mine)
    if not_mine is not None:
        query = query.where(sorties.c.controller != not_mine)
    with read_tx(store.engine) as conn:
        rows = conn.execute(query.order_by(sorties.c.sortie_id)).all()
    return [
        OpenSortie(
            sortie_id=int(r.sortie_id),
            vehicle_id=str(r.vehicle_id),
            controller=str(r.controller),
            ends_with_return=_ends_with_return(r.plan_json),
        )
        for r in rows
    ]


def _ends_with_return(plan_json: Any) -> bool:
    """Whether the recorded plan's last item is RTL or land (False when unreadable)."""
    try:
        kind = json.loads(plan_json)["items"][-1]["kind"]
    except (TypeError, ValueError, KeyError, IndexError):
        return False
    return kind in _RETURN_KINDS


def note_adoption(
    store: Store,
    *,
    sortie_id: int,
    vehicle_id: str,
    holder: str,
    action: str,
    reason: str,
    lease_token: int | None,
) -> None:
    """Stamp the sortie with its new controller and say why in the audit chain (one tx)."""
    with write_tx(store.engine) as conn:
        conn.execute(
            update(sorties).where(sorties.c.sortie_id == sortie_id).values(controller=holder)
        )
        payload: dict[str, Any] = {"vehicle_id": vehicle_id, "reason": reason}
        if lease_token is not None:
            payload["lease_token"] = lease_token
        append_in_tx(
            conn, actor=holder, action=action, target=f"sortie:{sortie_id}", payload=payload
        )


def _known(state: VehicleState) -> bool:
    """Enough telemetry to judge: right after a (re)start the state is still all defaults."""
    return (
        state.link is LinkState.CONNECTED
        and state.mode is not FlightMode.UNKNOWN
        and state.landed is not LandedState.UNKNOWN
    )


def _mission_done(state: VehicleState, ends_with_return: bool) -> bool:
    total = state.mission_total
    if not total:
        return False
    if state.mission_reached is not None and state.mission_reached >= total - 1:
        return True
    # the plan's own return is the current (last) item: every patrol point is behind it
    return ends_with_return and state.mission_seq is not None and state.mission_seq >= total - 1


async def follow_to_the_ground(
    session: VehicleSession, sortie: OpenSortie, *, actor: str
) -> Followed:
    """Watch the vehicle until it is landed and disarmed; judge the sortie's outcome.

    Sends RTL (through the fenced audit path) once, only if the mission is
    done, the plan does not end with its own return (PX4 flies that item in
    mission mode), the vehicle is still in the air and not returning: a
    vehicle left loitering at its last waypoint by a dead controller would
    otherwise stay up until its battery failsafe.
    """
    state = await session.wait_for(_known)
    with contextlib.suppress(TimeoutError):
        state = await session.wait_for(
            lambda s: s.mission_total is not None, timeout_s=_MISSION_TOTAL_WAIT_S
        )
    sent_home = False
    while state.armed or state.in_air:
        if (
            not sent_home
            and not sortie.ends_with_return  # else the plan's own last item brings it home
            and state.in_air
            and _mission_done(state, sortie.ends_with_return)
            and state.mode not in _RETURNING
        ):
            sent_home = True
            with contextlib.suppress(VehicleError, DroneOpsError):
                await session.return_to_launch(actor=actor)
        state = await session.next_change()
    total = state.mission_total or 0
    where = f"item {(state.mission_seq or 0) + 1}/{total}"
    if _mission_done(state, sortie.ends_with_return):
        return Followed(
            outcome=SortieOutcome.COMPLETED,
            detail=f"patrol finished unattended ({where}); landed and disarmed",
            sent_home=sent_home,
        )
    return Followed(
        outcome=SortieOutcome.ABORTED,
        detail=f"vehicle came down at {where} before the patrol was done; landed and disarmed",
        sent_home=sent_home,
    )
