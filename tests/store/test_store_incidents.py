"""Incident lifecycle, invalid transitions, marks, queries, and an audit entry per change."""

from __future__ import annotations

import pytest
from store_helpers import T0_US, track

from drone_ops.incidents import (
    IncidentDraft,
    IncidentError,
    Incidents,
    IncidentStatus,
    InvalidTransitionError,
    Severity,
)
from drone_ops.store import NotFoundError, Store


def draft(**kw: object) -> IncidentDraft:
    values: dict[str, object] = {
        "kind": "mark",
        "severity": Severity.WARNING,
        "time_unix_us": T0_US,
        "summary": "person on roof",
        "vehicle_id": "v1",
        "lat_deg": 52.0,
        "lon_deg": 4.0,
    }
    values.update(kw)
    return IncidentDraft(**values)  # type: ignore[arg-type]


async def test_lifecycle_open_ack_resolve_each_audited(store: Store) -> None:
    book = Incidents(store)
    raised = await book.raise_incident(draft(), actor="op:alice")
    assert raised.status is IncidentStatus.OPEN
    acked = await book.acknowledge(raised.incident_id, actor="op:bob", note="on my way")
    assert acked.status is IncidentStatus.ACKNOWLEDGED
    noted = await book.add_note(raised.incident_id, "suspect left", actor="op:bob")
    resolved = await book.resolve(raised.incident_id, actor="op:bob")
    assert resolved.status is IncidentStatus.RESOLVED
    assert [n.text for n in noted.notes] == ["on my way", "suspect left"]
    trail = await book.audit_trail(raised.incident_id)
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("incident.raise", "op:alice"),
        ("incident.acknowledged", "op:bob"),
        ("incident.note", "op:bob"),
        ("incident.resolved", "op:bob"),
    ]
    assert trail[1]["payload"] == {"from": "open", "to": "acknowledged", "note": "on my way"}


@pytest.mark.parametrize(
    ("steps", "bad", "message"),
    [
        ([], "resolve", "cannot resolve incident 1: it is open; acknowledge it first"),
        (["acknowledge"], "acknowledge", "cannot acknowledge incident 1: it is acknowledged"),
        (
            ["acknowledge", "resolve"],
            "dismiss",
            "it is resolved; that is final: raise a new incident",
        ),
        (["dismiss"], "acknowledge", "cannot acknowledge incident 1: it is dismissed"),
    ],
)
async def test_invalid_transitions_are_refused_and_change_nothing(
    store: Store, steps: list[str], bad: str, message: str
) -> None:
    book = Incidents(store)
    incident = await book.raise_incident(draft(), actor="op:alice")
    assert incident.incident_id == 1
    for step in steps:
        await getattr(book, step)(1, actor="op:alice")
    before = await book.get(1)
    entries_before = len(await store.audit.entries())
    with pytest.raises(InvalidTransitionError, match=message):
        await getattr(book, bad)(1, actor="op:alice")
    assert await book.get(1) == before
    assert len(await store.audit.entries()) == entries_before


async def test_unknown_incident_is_a_clear_error(store: Store) -> None:
    with pytest.raises(NotFoundError, match="incident 42 does not exist"):
        await Incidents(store).acknowledge(42, actor="op:alice")


async def test_mark_uses_the_vehicles_latest_position_and_sortie(store: Store) -> None:
    book = Incidents(store)
    with pytest.raises(IncidentError, match="no telemetry yet"):
        await book.mark(vehicle_id="v1", note="smoke", actor="op:alice")
    sortie_id = await store.open_sortie(
        vehicle_id="v1", plan_name="p", plan_json="{}", started_us=T0_US
    )
    samples = track("v1", 20)
    await store.write_samples(samples)
    mark = await book.mark(vehicle_id="v1", note="smoke from chimney", actor="op:alice")
    last = samples[-1]
    assert (mark.lat_deg, mark.lon_deg, mark.alt_amsl_m) == (
        last.lat_deg,
        last.lon_deg,
        last.alt_amsl_m,
    )
    assert mark.time_unix_us == last.time_unix_us
    assert mark.sortie_id == sortie_id
    assert mark.kind == "mark"
    assert mark.summary == "smoke from chimney"


def test_drafts_are_validated() -> None:
    with pytest.raises(IncidentError, match="both latitude and longitude"):
        draft(lon_deg=None)
    with pytest.raises(IncidentError, match="latitude 91"):
        draft(lat_deg=91.0)
    with pytest.raises(IncidentError, match="summary"):
        draft(summary=" ")


async def test_queries_by_time_area_vehicle_and_status(store: Store) -> None:
    book = Incidents(store)
    a = await book.raise_incident(draft(time_unix_us=T0_US, lat_deg=52.0, lon_deg=4.0), actor="x")
    b = await book.raise_incident(
        draft(time_unix_us=T0_US + 60_000_000, lat_deg=52.5, lon_deg=4.5, vehicle_id="v2"),
        actor="x",
    )
    c = await book.raise_incident(
        draft(time_unix_us=T0_US + 120_000_000, lat_deg=52.1, lon_deg=4.9), actor="x"
    )
    await book.acknowledge(b.incident_id, actor="x")

    def ids(found: list[object]) -> list[int]:
        return [i.incident_id for i in found]  # type: ignore[attr-defined]

    assert ids(await book.query()) == [c.incident_id, b.incident_id, a.incident_id]
    assert ids(await book.query(since_us=T0_US + 1, until_us=T0_US + 100_000_000)) == [
        b.incident_id
    ]
    assert ids(await book.query(vehicle_id="v2")) == [b.incident_id]
    assert ids(await book.query(status=IncidentStatus.OPEN)) == [c.incident_id, a.incident_id]
    assert ids(await book.query(bbox=(3.9, 51.9, 4.6, 52.6))) == [b.incident_id, a.incident_id]
    # a triangle that holds a's and c's latitude band only near lon 4.0 — c is inside its bbox
    # but outside the polygon itself
    triangle = [(3.9, 51.9), (4.95, 51.9), (3.9, 52.3)]
    assert ids(await book.query(polygon=triangle)) == [a.incident_id]
    assert ids(await book.query(polygon=triangle, bbox=(10, 10, 11, 11))) == []
    with pytest.raises(IncidentError, match="bbox must be"):
        await book.query(bbox=(5, 5, 4, 4))
