"""Rules raise exactly one incident per episode (pure: fed values, no clock, no I/O)."""

from __future__ import annotations

import dataclasses

from store_helpers import T0_US, track

from drone_ops.incidents import (
    BatteryRule,
    FailsafeRule,
    GeofenceRule,
    Incidents,
    LinkLostRule,
    RuleEngine,
    RuleRunner,
    SortieAbortedRule,
    SortieEvent,
    SortieEventKind,
    default_rules,
)
from drone_ops.store import Store
from missions.plan import FenceCircle, FencePolygon, Geofence, GeoPoint
from telemetry.bus import Policy, TelemetryBus
from telemetry.sample import TelemetrySample

SQUARE = FencePolygon(
    vertices=(
        GeoPoint(lat_deg=51.999, lon_deg=3.999),
        GeoPoint(lat_deg=51.999, lon_deg=4.003),
        GeoPoint(lat_deg=52.001, lon_deg=4.003),
        GeoPoint(lat_deg=52.001, lon_deg=3.999),
    )
)


def at(s: TelemetrySample, **kw: object) -> TelemetrySample:
    return dataclasses.replace(s, **kw)  # type: ignore[arg-type]


def run(engine: RuleEngine, samples: list[TelemetrySample]) -> list[str]:
    return [d.kind for s in samples for d in engine.on_sample(s)]


def test_geofence_one_incident_per_breach_despite_boundary_jitter() -> None:
    engine = RuleEngine([GeofenceRule(Geofence(polygons=(SQUARE,)), clear_samples=3)])
    base = track("v1", 1)[0]
    lons = [4.0, 4.001, 4.004, 4.005, 4.002, 4.004, 4.002, 4.002, 4.002, 4.004, 4.005]
    #        in   in     OUT   out    in     OUT(jitter) in  in     in     OUT(new)  out
    samples = [at(base, lon_deg=lon, time_unix_us=T0_US + i) for i, lon in enumerate(lons)]
    drafts = [d for s in samples for d in engine.on_sample(s)]
    assert [d.kind for d in drafts] == ["geofence_breach", "geofence_breach"]
    assert [d.time_unix_us for d in drafts] == [T0_US + 2, T0_US + 9]
    assert drafts[0].lon_deg == 4.004


def test_exclusion_circle_and_other_vehicles_are_separate_episodes() -> None:
    no_fly = FenceCircle(center=GeoPoint(lat_deg=52.0, lon_deg=4.0), radius_m=50, inclusion=False)
    engine = RuleEngine([GeofenceRule(Geofence(circles=(no_fly,)))])
    inside_no_fly = at(track("v1", 1)[0], lat_deg=52.0001)
    assert run(engine, [inside_no_fly, inside_no_fly]) == ["geofence_breach"]
    assert run(engine, [at(inside_no_fly, vehicle_id="v2")]) == ["geofence_breach"]
    assert run(engine, [at(inside_no_fly, lat_deg=52.01)]) == []


def test_low_then_critical_battery_once_each_per_discharge() -> None:
    engine = RuleEngine([BatteryRule(low_pct=15, critical_pct=7, rearm_margin_pct=5)])
    base = track("v1", 1)[0]
    levels = [30, 16, 15, 14.9, 16.5, 14, 8, 7, 6, 5, 40, 12]
    kinds = run(engine, [at(base, battery_pct=p) for p in levels])
    # low at 15, rebound to 16.5 (< 20) is not a new discharge, critical at 7,
    # a swapped battery (40) ends the episode, so 12 is a new low
    assert kinds == ["low_battery", "critical_battery", "low_battery"]


def test_sudden_drop_raises_low_and_critical_together() -> None:
    engine = RuleEngine([BatteryRule()])
    assert run(engine, [at(track("v1", 1)[0], battery_pct=5.0)]) == [
        "low_battery",
        "critical_battery",
    ]


def test_link_lost_once_until_restored_with_last_position_and_sortie() -> None:
    engine = RuleEngine([LinkLostRule()])
    sample = track("v1", 1)[0]
    engine.on_event(
        SortieEvent(kind=SortieEventKind.STARTED, vehicle_id="v1", time_unix_us=1, sortie_id=7)
    )
    engine.on_sample(sample)
    lost = SortieEvent(kind=SortieEventKind.LINK_LOST, vehicle_id="v1", time_unix_us=T0_US + 5)
    first = engine.on_event(lost)
    assert [d.kind for d in first] == ["link_lost"]
    assert (first[0].lat_deg, first[0].lon_deg, first[0].sortie_id) == (
        sample.lat_deg,
        sample.lon_deg,
        7,
    )
    assert engine.on_event(lost) == []
    engine.on_event(
        SortieEvent(kind=SortieEventKind.LINK_RESTORED, vehicle_id="v1", time_unix_us=9)
    )
    assert [d.kind for d in engine.on_event(lost)] == ["link_lost"]


def test_failsafe_only_when_nobody_asked_for_rtl() -> None:
    engine = RuleEngine([FailsafeRule(command_window_s=10)])
    base = at(track("v1", 1)[0], mission_seq=2, mission_total=5)

    def flight(start_us: int, modes: list[str]) -> list[TelemetrySample]:
        return [
            at(base, mode=m, time_unix_us=start_us + i * 1_000_000) for i, m in enumerate(modes)
        ]

    # uncommanded RTL mid-mission: one incident, however long it lasts
    assert run(engine, flight(T0_US, ["AUTO.MISSION", "AUTO.RTL", "AUTO.RTL", "AUTO.RTL"])) == [
        "failsafe"
    ]
    # back to mission, then an operator-commanded RTL: none
    engine.on_event(
        SortieEvent(
            kind=SortieEventKind.MODE_COMMANDED,
            vehicle_id="v1",
            time_unix_us=T0_US + 100_000_000,
            mode="AUTO.RTL",
        )
    )
    assert (
        run(engine, flight(T0_US + 99_000_000, ["AUTO.MISSION", "AUTO.MISSION", "AUTO.RTL"])) == []
    )
    # a plan ending in RTL: the mission was on its last item, so none
    last_item = at(base, mission_seq=4, time_unix_us=T0_US + 200_000_000)
    assert (
        run(engine, [last_item, at(last_item, mode="AUTO.RTL", time_unix_us=T0_US + 201_000_000)])
        == []
    )
    # LAND, disarmed on the ground, is not an episode
    assert (
        run(
            engine,
            [
                *flight(T0_US + 300_000_000, ["AUTO.MISSION"]),
                at(base, mode="AUTO.LAND", armed=False, time_unix_us=T0_US + 301_000_000),
            ],
        )
        == []
    )


def test_sortie_aborted_once_per_sortie_and_not_for_completed() -> None:
    engine = RuleEngine([SortieAbortedRule()])

    def ended(sortie_id: int, outcome: str) -> list[str]:
        event = SortieEvent(
            kind=SortieEventKind.ENDED,
            vehicle_id="v1",
            time_unix_us=T0_US,
            sortie_id=sortie_id,
            outcome=outcome,
        )
        return [d.kind for d in engine.on_event(event)]

    assert ended(1, "completed") == []
    assert ended(2, "aborted") == ["sortie_aborted"]
    assert ended(2, "aborted") == []
    assert ended(3, "link_lost") == ["sortie_aborted"]


async def test_runner_stores_each_episode_once_with_an_audit_entry(store: Store) -> None:
    fence = Geofence(polygons=(SQUARE,))
    runner = RuleRunner(RuleEngine(default_rules(fence)), Incidents(store))
    sortie_id = await store.open_sortie(vehicle_id="v1", plan_name="p", plan_json="{}")
    await runner.event(
        SortieEvent(
            kind=SortieEventKind.STARTED, vehicle_id="v1", time_unix_us=T0_US, sortie_id=sortie_id
        )
    )
    # eastward at 1e-5 deg per sample from lon 4.0: leaves the square after 300 samples,
    # while the battery drains through 15 %
    samples = track("v1", 400, battery0=30.0, battery_step=0.05)
    async with (
        TelemetryBus() as bus,
        bus.subscribe("rules", policy=Policy.LOSSLESS, maxsize=64) as sub,
    ):
        for s in samples:
            bus.publish(s)
        bus.close()
        await runner.run_subscription(sub)
    raised = runner.raised
    assert sorted(i.kind for i in raised) == ["geofence_breach", "low_battery"]
    assert all(i.sortie_id == sortie_id for i in raised)
    stored = await Incidents(store).query()
    assert sorted(i.kind for i in stored) == ["geofence_breach", "low_battery"]
    raises = [e for e in await store.audit.entries() if e.action == "incident.raise"]
    assert {e.actor for e in raises} == {"rules"}
    assert len(raises) == 2
