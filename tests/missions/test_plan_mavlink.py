"""PatrolPlan <-> MAVLink mission items: PX4 conventions and exact round trips."""

from __future__ import annotations

import math

import pytest

from missions import (
    CameraAction,
    FenceCircle,
    FencePolygon,
    Geofence,
    GeoPoint,
    Home,
    ItemKind,
    MavCmd,
    MavFrame,
    MavItem,
    MavItemError,
    MissionItem,
    MissionType,
    PatrolPlan,
    RallyPoint,
    fence_items,
    mission_items,
    plan_from_mav_items,
    rally_items,
)

HOME = Home(lat_deg=47.397743, lon_deg=8.545594, amsl_m=489.4)


def _plan() -> PatrolPlan:
    return PatrolPlan(
        name="depot",
        home=HOME,
        items=(
            MissionItem(kind=ItemKind.TAKEOFF, lat_deg=47.397743, lon_deg=8.545594, rel_alt_m=30),
            MissionItem(
                kind=ItemKind.WAYPOINT,
                lat_deg=47.3981,
                lon_deg=8.5461,
                rel_alt_m=40,
                speed_m_s=8.0,
                hold_s=2.0,
                acceptance_radius_m=3.0,
                camera=CameraAction.START_VIDEO,
            ),
            MissionItem(
                kind=ItemKind.WAYPOINT,
                lat_deg=47.3985,
                lon_deg=8.5458,
                rel_alt_m=40,
                camera=CameraAction.PHOTO,
            ),
            MissionItem(
                kind=ItemKind.LOITER_TIME,
                lat_deg=47.3983,
                lon_deg=8.5452,
                rel_alt_m=35,
                hold_s=10.0,
                camera=CameraAction.STOP_VIDEO,
            ),
            MissionItem(
                kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0
            ),
        ),
        fence=Geofence(
            polygons=(
                FencePolygon(
                    vertices=(
                        GeoPoint(lat_deg=47.396, lon_deg=8.543),
                        GeoPoint(lat_deg=47.400, lon_deg=8.543),
                        GeoPoint(lat_deg=47.400, lon_deg=8.549),
                        GeoPoint(lat_deg=47.396, lon_deg=8.549),
                    )
                ),
                FencePolygon(
                    vertices=(
                        GeoPoint(lat_deg=47.3990, lon_deg=8.5470),
                        GeoPoint(lat_deg=47.3995, lon_deg=8.5470),
                        GeoPoint(lat_deg=47.3995, lon_deg=8.5475),
                    ),
                    inclusion=False,
                ),
            ),
            circles=(
                FenceCircle(
                    center=GeoPoint(lat_deg=47.3975, lon_deg=8.5440), radius_m=25.0, inclusion=False
                ),
            ),
        ),
        rally=(RallyPoint(lat_deg=47.3970, lon_deg=8.5450, rel_alt_m=15.0),),
    )


def test_mission_items_follow_px4_conventions() -> None:
    items = mission_items(_plan())
    assert [i.seq for i in items] == list(range(len(items)))
    assert [i.command for i in items] == [
        MavCmd.NAV_TAKEOFF,
        MavCmd.NAV_WAYPOINT,
        MavCmd.DO_CHANGE_SPEED,
        MavCmd.VIDEO_START_CAPTURE,
        MavCmd.NAV_WAYPOINT,
        MavCmd.IMAGE_START_CAPTURE,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.VIDEO_STOP_CAPTURE,
        MavCmd.NAV_RETURN_TO_LAUNCH,
    ]
    # the planned home is not item 0: item 0 is the takeoff at 30 m above home
    assert items[0].z == 30
    assert items[0].frame == MavFrame.GLOBAL_RELATIVE_ALT_INT
    wp = items[1]
    assert (wp.x, wp.y) == (473981000, 85461000)
    assert (wp.param1, wp.param2) == (2.0, 3.0)  # hold s, acceptance radius m
    assert items[2].param2 == 8.0
    assert all(i.mission_type == MissionType.MISSION for i in items)


def test_fence_and_rally_items() -> None:
    fence = fence_items(_plan())
    assert [i.command for i in fence] == [5001] * 4 + [5002] * 3 + [5004]
    assert [i.param1 for i in fence] == [4.0] * 4 + [3.0] * 3 + [25.0]
    assert [i.seq for i in fence] == list(range(8))
    assert {i.mission_type for i in fence} == {MissionType.FENCE}
    rally = rally_items(_plan())
    assert len(rally) == 1
    assert rally[0].command == 5100
    assert rally[0].z == 15.0
    assert rally[0].mission_type == MissionType.RALLY


def test_round_trip_through_mav_items() -> None:
    plan = _plan()
    back = plan_from_mav_items(
        mission_items(plan), fence_items(plan), rally_items(plan), name=plan.name, home=HOME
    )
    assert len(back.items) == len(plan.items)
    for a, b in zip(plan.items, back.items, strict=True):
        assert a.kind == b.kind
        assert (a.speed_m_s, a.hold_s, a.camera, a.acceptance_radius_m) == (
            b.speed_m_s,
            b.hold_s,
            b.camera,
            b.acceptance_radius_m,
        )
        if a.kind is not ItemKind.RETURN_TO_LAUNCH:
            assert a.lat_deg == pytest.approx(b.lat_deg, abs=1e-7)
            assert a.lon_deg == pytest.approx(b.lon_deg, abs=1e-7)
            assert a.rel_alt_m == b.rel_alt_m
    assert back.fence == plan.fence
    assert back.rally == plan.rally


def test_download_with_px4_echo_frames_and_amsl_frames() -> None:
    """PX4 echoes frame 6 for every item; AMSL frames need the home altitude."""
    echoed = [
        MavItem(seq=0, frame=6, command=16, x=473981000, y=85461000, z=20.0),
        MavItem(seq=1, frame=6, command=178, param1=1, param2=5.0, param3=-1),
        MavItem(seq=2, frame=0, command=16, x=473982000, y=85462000, z=519.4),
    ]
    plan = plan_from_mav_items(echoed, home=HOME)
    assert plan.items[0].speed_m_s == 5.0
    assert plan.items[1].rel_alt_m == pytest.approx(30.0)
    with pytest.raises(MavItemError, match="give the home position"):
        plan_from_mav_items(echoed)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([MavItem(seq=0, frame=2, command=178, param2=5.0)], "expected a navigation command"),
        (
            [MavItem(seq=0, frame=6, command=16), MavItem(seq=1, frame=2, command=31000)],
            "command 31000 is not supported",
        ),
        ([MavItem(seq=0, frame=1, command=16)], "frame 1 is not supported"),
        ([], "no navigation items"),
    ],
)
def test_unusable_mission_items_name_the_item(items: list[MavItem], message: str) -> None:
    with pytest.raises(MavItemError, match=message):
        plan_from_mav_items(items)


def test_truncated_fence_polygon_is_reported() -> None:
    fence = [
        MavItem(seq=0, frame=0, command=5001, param1=4, x=1, y=1, mission_type=1),
        MavItem(seq=1, frame=0, command=5001, param1=4, x=2, y=1, mission_type=1),
    ]
    with pytest.raises(MavItemError, match="fence item 0"):
        plan_from_mav_items([MavItem(seq=0, frame=6, command=16)], fence)


def test_mismatches_tolerate_px4_echo_and_catch_real_differences() -> None:
    from dataclasses import replace

    from missions import mission_mismatches

    sent = mission_items(_plan())
    # what PX4 sends back: frame 6 for everything, `current` on item 0, float noise
    echoed = tuple(
        replace(i, frame=6, current=int(i.seq == 0), z=i.z + 1e-5, param2=i.param2 + 1e-6)
        for i in sent
    )
    assert mission_mismatches(sent, echoed) == ()
    moved = list(echoed)
    moved[1] = replace(moved[1], x=moved[1].x + 3)
    moved[2] = replace(moved[2], param2=9.0)
    assert mission_mismatches(sent, moved) == (
        f"item 1: position {sent[1].x},{sent[1].y} sent, {sent[1].x + 3},{sent[1].y} on the"
        " vehicle",
        "item 2: param2 8.0 sent, 9.0 on the vehicle",
    )
    assert mission_mismatches(sent, echoed[:-1])[0] == (
        f"count: sent {len(sent)} items, vehicle has {len(sent) - 1}"
    )
