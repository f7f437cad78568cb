"""Video with the incident store: the store as the recorder's index, and incidents that
get their clip and snapshot as hashed, audited evidence.

Real parts throughout: the simulated fleet and its cameras over real UDP, real
PyAV, a real SQLite file, and the machine's PostgreSQL (a schema per test) for
the store's video queries.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import av
import psycopg
import pytest

from drone_ops.incidents import (
    BatteryRule,
    EvidenceLocker,
    IncidentDraft,
    IncidentError,
    Incidents,
    RuleEngine,
    RuleRunner,
    Severity,
    export_bundle,
)
from drone_ops.incidents.video import (
    VideoEvidenceCapture,
    VideoEvidenceConfig,
    VideoIncidents,
    px4_video_sources,
    scaled_camera_time,
    sdp_video_sources,
    video_evidence,
)
from drone_ops.store import Store, StoreConfig, open_store
from drone_ops.store.verify import verify_store
from sitl import SimConfig, SimFleet
from sitl.camera import (
    CameraConfig,
    CameraPose,
    FleetCameras,
    GroundTexture,
    ScaledClock,
    SimCamera,
)
from sitl.config import free_vehicle_ports
from telemetry.sample import TelemetrySample
from telemetry.video import (
    IngestConfig,
    IngestState,
    LocalBlobStore,
    VideoConfigError,
    VideoIndex,
    VideoRecorder,
    VideoSource,
    apply_retention,
)

PG_ADMIN_URL = os.environ.get("DRONE_OPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SPEEDUP = 4.0
GOP_S = 1.0
PRE_S = 2.0
POST_S = 6.0
T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the machine's PostgreSQL, dropped afterwards."""
    schema = f"video_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'var' / 'drone-ops.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    async with open_store(StoreConfig(url=url, evidence_dir=tmp_path / "evidence")) as store:
        yield store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'var' / 'drone-ops.db'}"
    async with open_store(StoreConfig(url=url, evidence_dir=tmp_path / "evidence")) as store:
        yield store


def _mark_sample(vehicle_id: str, lat_deg: float, lon_deg: float) -> TelemetrySample:
    """The vehicle's position now, on the controller's clock (as the console marks it)."""
    return TelemetrySample(
        vehicle_id=vehicle_id,
        time_unix_us=time.time_ns() // 1000,
        boot_time_ms=0,
        lat_deg=lat_deg,
        lon_deg=lon_deg,
        alt_amsl_m=500.0,
    )


# ---------------------------------------------------------------- the store as VideoIndex
async def test_the_store_is_a_video_index_on_both_engines(any_store: Store) -> None:
    store = any_store
    assert isinstance(store, VideoIndex)

    async def segment(vehicle_id: str, start_s: float, end_s: float) -> int:
        return await store.add_video_segment(
            vehicle_id=vehicle_id,
            start_us=T0_US + int(start_s * 1e6),
            end_us=T0_US + int(end_s * 1e6),
            path=f"segments/{vehicle_id}/{start_s:05.1f}.mp4",
            sha256="ab" * 32,
            size_bytes=1000,
        )

    ids = {(v, s): await segment(v, s, s + 10) for v in ("v1", "v2") for s in (0, 10, 20, 30)}
    await store.add_video_gap(vehicle_id="v1", start_us=T0_US + 40_000_000, end_us=T0_US + 45e6)
    # Retention's question: segments of every vehicle that ended before a time, oldest first.
    old = await store.video_segments_ended_before(T0_US + 25_000_000)
    assert [(s.vehicle_id, s.start_us) for s in old] == [
        ("v1", T0_US),
        ("v2", T0_US),
        ("v1", T0_US + 10_000_000),
        ("v2", T0_US + 10_000_000),
    ]
    assert await store.referenced_video_paths() == set()

    # An incident of v1 with a clip from 12 s to 15 s and a snapshot at 31 s; one of v2
    # with a whole segment filed as evidence.
    book, locker = Incidents(store), EvidenceLocker(store)

    async def incident(vehicle_id: str) -> int:
        draft = IncidentDraft(
            kind="mark",
            severity=Severity.INFO,
            time_unix_us=T0_US,
            summary="x",
            vehicle_id=vehicle_id,
        )
        return (await book.raise_incident(draft, actor="t")).incident_id

    i1, i2 = await incident("v1"), await incident("v2")
    await locker.add_bytes(
        i1, b"clip", kind="video", name="c.mp4", media_type="video/mp4", actor="t",
        t0_us=T0_US + 12_000_000, t1_us=T0_US + 15_000_000,
    )  # fmt: skip
    await locker.add_bytes(
        i1, b"jpeg", kind="snapshot", name="s.jpg", media_type="image/jpeg", actor="t",
        t0_us=T0_US + 31_000_000, t1_us=T0_US + 31_000_000,
    )  # fmt: skip
    await locker.add_bytes(
        i1, b"csv", kind="telemetry_csv", name="t.csv", media_type="text/csv", actor="t",
        t0_us=T0_US, t1_us=T0_US + 40_000_000,
    )  # telemetry spans are not footage  # fmt: skip
    clip = await locker.add_bytes(
        i2, b"clip", kind="video", name="c.mp4", media_type="video/mp4", actor="t",
        t0_us=T0_US + 50_000_000, t1_us=T0_US + 55_000_000,
    )  # after v2's footage: references none of it  # fmt: skip
    snap = (await book.get(i1)).evidence[1]
    assert await store.referenced_video_paths() == {
        "segments/v1/010.0.mp4",  # holds the clip's 12..15 s
        "segments/v1/030.0.mp4",  # holds the snapshot's 31 s
        clip.path,  # the evidence files themselves
        snap.path,
        (await book.get(i1)).evidence[0].path,
    }

    await store.remove_video_segment(ids[("v1", 0)])
    await store.remove_video_segment(999_999)  # unknown: nothing happens
    left = await store.segments_between("v1", T0_US, T0_US + 100_000_000)
    assert [s.start_us for s in left] == [T0_US + 10_000_000, T0_US + 20e6, T0_US + 30e6]
    (gap,) = await store.video_gaps_between("v1", T0_US, T0_US + 100_000_000)
    assert (gap.start_us, gap.end_us) == (T0_US + 40_000_000, T0_US + 45_000_000)
    assert await store.video_gaps_between("v2", T0_US, T0_US + 100_000_000) == []


# ---------------------------------------------------------------- incidents get video
def _decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


async def test_an_incident_gets_its_clip_and_snapshot_as_audited_evidence(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """Simulated vehicle with a camera → recorder indexed in the store → operator mark →
    clip and snapshot evidence: decodable, covering T−pre..T+post within one GOP, hashed
    in the audit chain, verified, exported; retention keeps exactly the incident's footage."""
    store = sqlite_store
    ports = free_vehicle_ports(1)
    blobs = LocalBlobStore(tmp_path / "video")
    small = CameraConfig(width_px=320, height_px=240, fps=10, max_wall_fps=10, gop_s=GOP_S)
    async with SimFleet(SimConfig(count=1, speedup=SPEEDUP, ports=ports)) as fleet:
        camera_now = fleet.clock.unix_usec
        recorder = VideoRecorder(
            sources={"v1": VideoSource(port=ports[0].video)},
            blobs=blobs,
            index=store,
            config=IngestConfig(segment_s=1.0, ring_s=12.0, pre_s=PRE_S, post_s=POST_S),
            now_us=camera_now,
        )
        async with (
            recorder,
            FleetCameras(fleet, config=small) as cameras,
            VideoEvidenceCapture(
                store,
                recorder,
                config=VideoEvidenceConfig(pre_s=PRE_S, post_s=POST_S, actor="video-test"),
                camera_time=scaled_camera_time(camera_now, SPEEDUP),
            ) as capture,
        ):
            ingest = recorder.ingest("v1")
            # Footage well before the clip will start, so retention has old segments to take.
            await ingest.wait_for(lambda: ingest.stats.segments_written >= 5, timeout_wall_s=60)
            pose = fleet.vehicles[0].pose()
            book = VideoIncidents(store, capture)
            camera_at_mark = camera_now()
            incident = await book.mark(
                vehicle_id="v1",
                note="person on the roof",
                actor="operator",
                at=_mark_sample("v1", pose.lat_deg, pose.lon_deg),
            )
            # The mark returned before the footage after it exists: it did not wait for it.
            assert (ingest.stats.last_unit_us or 0) < camera_at_mark + POST_S * 1e6
            assert incident.evidence == ()
            result = await capture.wait(incident.incident_id)
            assert capture.pending == 0
            # Footage after the clip, so retention has newer unreferenced segments too.
            assert result.clip is not None
            clip_end = result.clip.t1_us
            assert clip_end is not None
            await ingest.wait_for(
                lambda: (ingest.stats.last_unit_us or 0) > clip_end + 3_000_000,
                timeout_wall_s=60,
            )
            frames_us = list(cameras.cameras[0].stats.frame_times_unix_us)

    assert result.ok, result.error
    clip, snapshot = result.clip, result.snapshot
    assert clip is not None
    assert snapshot is not None
    assert result.at_camera_us is not None
    at_us = result.at_camera_us
    # The instant was translated onto the camera's clock (4x faster than the wall).
    assert abs(at_us - camera_at_mark) < 1_000_000
    assert (clip.kind, clip.media_type) == ("video", "video/mp4")
    assert (snapshot.kind, snapshot.media_type) == ("snapshot", "image/jpeg")

    # Covers [T-pre, T+post], starting at most one GOP (plus a frame gap) early.
    max_gap_us = max(b - a for a, b in itertools.pairwise(frames_us))
    assert clip.t0_us is not None
    assert clip.t1_us is not None
    assert clip.t0_us <= at_us - PRE_S * 1e6
    assert at_us - PRE_S * 1e6 - clip.t0_us <= GOP_S * 1e6 + max_gap_us
    assert clip.t1_us >= at_us + POST_S * 1e6
    assert clip.t1_us - (at_us + POST_S * 1e6) <= max_gap_us
    assert snapshot.t0_us is not None
    assert abs(snapshot.t0_us - at_us) <= max_gap_us

    # The files are in the evidence directory and decode with PyAV.
    locker = EvidenceLocker(store)
    clip_path, shot_path = locker.path_of(clip), locker.path_of(snapshot)
    frames = _decoded(clip_path)
    assert frames[0].key_frame
    assert len(frames) >= (PRE_S + POST_S) * 0.5 * small.fps / SPEEDUP
    assert (frames[0].width, frames[0].height) == (320, 240)
    (picture,) = _decoded(shot_path)
    assert (picture.width, picture.height) == (320, 240)
    assert not list(blobs.path("evidence").rglob("*.*"))  # moved, not left twice

    # Each file's hash is in its own evidence.add entry of the audit chain.
    trail = await Incidents(store).audit_trail(incident.incident_id)
    added = {e["payload"]["sha256"]: e for e in trail if e["action"] == "evidence.add"}
    assert set(added) == {clip.sha256, snapshot.sha256}
    assert {added[clip.sha256]["actor"], added[snapshot.sha256]["actor"]} == {"video-test"}
    assert clip.audit_seq == added[clip.sha256]["seq"]

    report = await verify_store(store)
    assert report.ok, report.summary()
    assert report.evidence_files == 2

    # The export bundle carries both, listed in its SHA256SUMS.
    bundle = await export_bundle(store, incident.incident_id, tmp_path / "out")
    sums = (bundle / "SHA256SUMS").read_text()
    assert clip.sha256 in sums
    assert snapshot.sha256 in sums

    # Retention with the store as index: everything is "old" now; only the segments
    # holding the incident's footage stay.
    segments = await store.segments_between("v1", 0, 2**62)
    covering = {s.path for s in segments if s.start_us <= clip.t1_us and s.end_us >= clip.t0_us}
    assert covering
    assert len(covering) < len(segments)
    retention = await apply_retention(
        index=store, blobs=blobs, max_age_s=1.0, now_us=clip.t1_us + 3600 * 1_000_000
    )
    assert set(retention.kept_referenced) == covering
    assert set(retention.removed) == {s.path for s in segments} - covering
    assert {s.path for s in await store.segments_between("v1", 0, 2**62)} == covering
    assert all(blobs.path(p).is_file() for p in covering)
    assert not any(blobs.path(p).exists() for p in retention.removed)

    # Altering the clip behind our back is caught, and the file is named.
    clip_path.chmod(0o644)
    data = bytearray(clip_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    clip_path.write_bytes(bytes(data))
    report = await verify_store(store)
    assert not report.ok
    assert report.problem is not None
    assert str(clip_path) in report.problem.message
    assert "altered" in report.problem.message


# ---------------------------------------------------------------- gaps and missing footage
async def test_a_stream_gap_is_recorded_in_the_store(
    sqlite_store: Store,
    tmp_path: Path,
    ground: GroundTexture,
    make_pose: Callable[..., Callable[[], CameraPose]],
) -> None:
    store = sqlite_store
    port = free_vehicle_ports(1)[0].video
    clock = ScaledClock(SPEEDUP)
    recorder = VideoRecorder(
        sources={"v1": VideoSource(port=port)},
        blobs=LocalBlobStore(tmp_path / "video"),
        index=store,
        config=IngestConfig(segment_s=1.0, ring_s=6.0, pre_s=1.0, post_s=1.0,
                            stall_timeout_wall_s=0.6),
    )  # fmt: skip
    config = CameraConfig(port=port, width_px=320, height_px=240, fps=10, gop_s=GOP_S)
    pose = make_pose(clock)

    def camera() -> SimCamera:
        return SimCamera(vehicle_id="v1", pose=pose, clock=clock, config=config, ground=ground)

    async with recorder:
        ingest = recorder.ingest("v1")
        first = camera()
        async with first:
            await ingest.wait_for(lambda: ingest.stats.units_recorded >= 8, timeout_wall_s=30)
        await ingest.wait_for(lambda: ingest.state is IngestState.LOST, timeout_wall_s=30)
        second = camera()  # the camera comes back
        async with second:
            await ingest.wait_for(lambda: ingest.stats.gaps_recorded == 1, timeout_wall_s=30)
    last_before = first.stats.last_frame_unix_us
    first_after = second.stats.frame_times_unix_us[0]
    assert last_before is not None
    (gap,) = await store.video_gaps_between("v1", 0, 2**62)
    assert gap.start_us <= last_before
    assert gap.end_us >= first_after
    assert gap.end_us - gap.start_us >= 0.6 * SPEEDUP * 1e6  # at least the stall timeout
    segments = await store.segments_between("v1", 0, 2**62)
    assert all(s.end_us <= gap.start_us or s.start_us >= gap.end_us for s in segments)
    assert any(s.start_us >= gap.end_us for s in segments)  # recording carried on


async def test_missing_footage_is_noted_on_the_incident_and_only_recorded_vehicles_ask(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    async with video_evidence(
        store,
        sources={"v1": VideoSource(port=free_vehicle_ports(1)[0].video)},  # nobody sends
        video_dir=tmp_path / "video",
        config=VideoEvidenceConfig(pre_s=1, post_s=1),
        ingest=IngestConfig(segment_s=1.0, ring_s=4.0, pre_s=1.0, post_s=1.0,
                            evidence_wait_wall_s=0.3),
    ) as cap:  # fmt: skip
        book = VideoIncidents(store, cap)

        def draft(vehicle_id: str | None) -> IncidentDraft:
            return IncidentDraft(
                kind="low_battery",
                severity=Severity.WARNING,
                time_unix_us=time.time_ns() // 1000,
                summary="battery at 14 %",
                vehicle_id=vehicle_id,
            )

        # Raised by a rule: the runner works on the video-aware book unchanged.
        runner = RuleRunner(RuleEngine([BatteryRule()]), book)
        (recorded,) = await runner.sample(
            TelemetrySample(
                vehicle_id="v1", time_unix_us=time.time_ns() // 1000, boot_time_ms=0,
                battery_pct=14.0,
            )
        )  # fmt: skip
        other = await book.raise_incident(draft("v2"), actor="rules")
        nobody = await book.raise_incident(draft(None), actor="rules")
        assert cap.pending == 1
        result = await cap.wait(recorded.incident_id)
        with pytest.raises(IncidentError, match="no video capture was requested"):
            await cap.wait(other.incident_id)
        assert not cap.request(nobody)
    assert not result.ok
    assert result.error is not None
    assert "no video from v1" in result.error
    incident = await book.get(recorded.incident_id)
    assert incident.evidence == ()
    (note,) = incident.notes
    assert note.text.startswith("no video evidence from v1: no video from v1")
    assert note.actor == "video"
    trail = await book.audit_trail(recorded.incident_id)
    assert [e["action"] for e in trail] == ["incident.raise", "incident.note"]
    assert (await book.get(other.incident_id)).notes == ()
    report = await verify_store(store)
    assert report.ok, report.summary()


def test_camera_clock_translation_and_settings() -> None:
    wall = [1_000_000_000]
    camera = [5_000_000_000]
    to_camera = scaled_camera_time(lambda: camera[0], 4.0, controller_now_us=lambda: wall[0])
    assert to_camera(wall[0]) == camera[0]
    assert to_camera(wall[0] - 2_000_000) == camera[0] - 8_000_000  # 2 wall s = 8 camera s
    with pytest.raises(IncidentError, match="speedup"):
        scaled_camera_time(lambda: 0, 0.0)
    with pytest.raises(IncidentError, match=r"post_s of -1 s is out of 0\.\.600"):
        VideoEvidenceConfig(post_s=-1)
    with pytest.raises(IncidentError, match="actor"):
        VideoEvidenceConfig(actor=" ")


async def test_an_incident_raised_elsewhere_is_found_by_the_sweep_and_gets_video(
    sqlite_store: Store,
    tmp_path: Path,
    ground: GroundTexture,
    make_pose: Callable[..., Callable[[], CameraPose]],
) -> None:
    """`drone-ops incidents mark` runs in its own process with a plain `Incidents`: the
    recording process's sweep finds the incident and files its video."""
    store = sqlite_store
    port = free_vehicle_ports(1)[0].video
    clock = ScaledClock(SPEEDUP)
    camera = SimCamera(
        vehicle_id="v1",
        pose=make_pose(clock),
        clock=clock,
        config=CameraConfig(port=port, width_px=320, height_px=240, fps=10, gop_s=GOP_S),
        ground=ground,
    )
    camera_now = lambda: int(clock.time_unix_s() * 1e6)  # noqa: E731
    async with (
        video_evidence(
            store,
            sources={"v1": VideoSource(port=port)},
            video_dir=tmp_path / "video",
            config=VideoEvidenceConfig(pre_s=1.0, post_s=1.0, sweep_every_s=0.2),
            ingest=IngestConfig(segment_s=1.0, ring_s=6.0, pre_s=1.0, post_s=1.0),
            camera_now_us=camera_now,
            speedup=SPEEDUP,
        ) as capture,
        camera,
    ):
        ingest = capture.recorder.ingest("v1")
        await ingest.wait_for(lambda: ingest.stats.units_recorded >= 10, timeout_wall_s=30)
        marked = await Incidents(store).mark(
            vehicle_id="v1", note="seen from the CLI", actor="op",
            at=_mark_sample("v1", 47.4, 8.5),
        )  # fmt: skip
        iid = marked.incident_id
        # Re-checked after every received frame: the sweep runs every 0.2 s meanwhile.
        await ingest.wait_for(
            lambda: capture.pending > 0 or iid in capture.results, timeout_wall_s=30
        )
        result = await capture.wait(iid)
        assert await capture.sweep() == []  # asked once only
    assert result.ok, result.error
    kinds = sorted(e.kind for e in (await Incidents(store).get(iid)).evidence)
    assert kinds == ["snapshot", "video"]
    # A later process (a restart) sees the incident has its video and leaves it alone.
    async with video_evidence(
        store,
        sources={"v1": VideoSource(port=free_vehicle_ports(1)[0].video)},
        video_dir=tmp_path / "video",
        config=VideoEvidenceConfig(sweep_every_s=None, sweep_lookback_s=3600),
    ) as again:
        assert await again.sweep() == []


def test_video_sources_by_px4_convention_or_from_the_simulators_sdp_files(tmp_path: Path) -> None:
    from sitl.camera import write_sdp

    assert px4_video_sources(["v1", "v2"]) == {
        "v1": VideoSource(port=5600),
        "v2": VideoSource(port=5601),
    }
    write_sdp(tmp_path / "vehicle-0.sdp", host="127.0.0.1", port=23456, title="v1", fps=15)
    write_sdp(tmp_path / "vehicle-1.sdp", host="127.0.0.1", port=23458, title="v2", fps=15)
    sources = sdp_video_sources(tmp_path, ["v1", "v2"])
    assert {v: s.port for v, s in sources.items()} == {"v1": 23456, "v2": 23458}
    with pytest.raises(VideoConfigError, match=r"vehicle-2\.sdp cannot be read") as info:
        sdp_video_sources(tmp_path, ["v1", "v2", "v3"])
    assert "\n" not in str(info.value)
