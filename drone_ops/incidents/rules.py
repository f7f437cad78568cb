"""Incident rules: small state machines over samples and sortie events.

Each rule sees every `TelemetrySample` and `SortieEvent` and returns the
`IncidentDraft`s to raise — one per *episode*: a geofence breach is raised when
the vehicle leaves the fence and not again until it has been back inside for a
few samples; low battery once per discharge; link lost once until the link is
back; a failsafe once per excursion into RTL/LAND that nobody commanded. The
rules do no I/O and read no clock, so they are tested by feeding values;
`RuleRunner` connects them to the incident book.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shapely.geometry import Point, Polygon

from drone_ops.incidents.model import Incident, IncidentDraft, Severity
from missions.plan import Geofence
from telemetry.bus import Subscription
from telemetry.errors import BusClosedError
from telemetry.sample import TelemetrySample

__all__ = [
    "BatteryRule",
    "FailsafeRule",
    "GeofenceRule",
    "LinkLostRule",
    "Rule",
    "RuleEngine",
    "RuleRunner",
    "SortieAbortedRule",
    "SortieEvent",
    "SortieEventKind",
    "default_rules",
]

_EARTH_RADIUS_M = 6_371_008.8


class SortieEventKind(StrEnum):
    STARTED = "started"
    ENDED = "ended"  # `outcome` says how
    LINK_LOST = "link_lost"
    LINK_RESTORED = "link_restored"
    MODE_COMMANDED = "mode_commanded"  # an operator or the runner asked for `mode`
    FAILSAFE = "failsafe"  # the vehicle reported a failsafe (e.g. STATUSTEXT)


@dataclass(frozen=True, slots=True, kw_only=True)
class SortieEvent:
    """Something the controller knows that samples don't show (or show late)."""

    kind: SortieEventKind
    vehicle_id: str
    time_unix_us: int
    sortie_id: int | None = None
    outcome: str | None = None  # for ENDED: a SortieOutcome value
    mode: str | None = None  # for MODE_COMMANDED: the PX4 mode asked for
    detail: str = ""


class Rule(Protocol):
    def on_sample(self, sample: TelemetrySample) -> Sequence[IncidentDraft]: ...

    def on_event(self, event: SortieEvent) -> Sequence[IncidentDraft]: ...


def _draft_at(
    sample: TelemetrySample, kind: str, severity: Severity, summary: str, **details: object
) -> IncidentDraft:
    return IncidentDraft(
        kind=kind,
        severity=severity,
        time_unix_us=sample.time_unix_us,
        summary=summary,
        vehicle_id=sample.vehicle_id,
        lat_deg=sample.lat_deg,
        lon_deg=sample.lon_deg,
        alt_amsl_m=sample.alt_amsl_m,
        details=details,
    )


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(a))


class GeofenceRule:
    """Breach = outside any inclusion zone or inside any exclusion zone (PX4 ANDs inclusions).

    An episode ends after `clear_samples` consecutive samples back inside, so
    GPS jitter on the boundary does not raise a flurry of incidents.
    """

    def __init__(self, fence: Geofence, *, clear_samples: int = 3) -> None:
        self._fence = fence
        self._polys = [
            (Polygon([(v.lon_deg, v.lat_deg) for v in p.vertices]), p.inclusion)
            for p in fence.polygons
        ]
        self._clear_samples = clear_samples
        self._breached: dict[str, int] = {}  # vehicle → consecutive inside samples since breach

    def contains(self, lat_deg: float, lon_deg: float) -> bool:
        point = Point(lon_deg, lat_deg)
        for poly, inclusion in self._polys:
            if poly.covers(point) != inclusion:
                return False
        for circle in self._fence.circles:
            d = _haversine_m(circle.center.lat_deg, circle.center.lon_deg, lat_deg, lon_deg)
            if (d <= circle.radius_m) != circle.inclusion:
                return False
        return True

    def on_sample(self, sample: TelemetrySample) -> Sequence[IncidentDraft]:
        if self._fence.is_empty or sample.lat_deg is None or sample.lon_deg is None:
            return ()
        vid = sample.vehicle_id
        inside = self.contains(sample.lat_deg, sample.lon_deg)
        if vid in self._breached:
            if inside:
                self._breached[vid] += 1
                if self._breached[vid] >= self._clear_samples:
                    del self._breached[vid]
            else:
                self._breached[vid] = 0
            return ()
        if inside:
            return ()
        self._breached[vid] = 0
        return (
            _draft_at(
                sample,
                "geofence_breach",
                Severity.CRITICAL,
                f"{vid} left the geofence at {sample.lat_deg:.6f}, {sample.lon_deg:.6f}",
            ),
        )

    def on_event(self, event: SortieEvent) -> Sequence[IncidentDraft]:
        if event.kind is SortieEventKind.STARTED:
            self._breached.pop(event.vehicle_id, None)
        return ()


class BatteryRule:
    """Low (PX4 BAT_LOW_THR 15 %) and critical (BAT_CRIT_THR 7 %) once per discharge.

    The episode ends when the charge is back above `low_pct + rearm_margin_pct`
    (a swapped or recharged battery), not on a momentary voltage rebound.
    """

    def __init__(
        self, *, low_pct: float = 15.0, critical_pct: float = 7.0, rearm_margin_pct: float = 5.0
    ) -> None:
        if not 0 < critical_pct < low_pct < 100:
            raise ValueError("battery thresholds need 0 < critical < low < 100 percent")
        self._low = low_pct
        self._critical = critical_pct
        self._rearm = low_pct + rearm_margin_pct
        self._level: dict[str, int] = {}  # 0 ok, 1 low raised, 2 critical raised

    def on_sample(self, sample: TelemetrySample) -> Sequence[IncidentDraft]:
        pct = sample.battery_pct
        if pct is None or not math.isfinite(pct):
            return ()
        vid = sample.vehicle_id
        level = self._level.get(vid, 0)
        if pct >= self._rearm:
            self._level[vid] = 0
            return ()
        out: list[IncidentDraft] = []
        if pct <= self._low and level < 1:
            level = 1
            out.append(
                _draft_at(
                    sample,
                    "low_battery",
                    Severity.WARNING,
                    f"{vid} battery low: {pct:.0f} % (threshold {self._low:.0f} %)",
                    battery_pct=pct,
                )
            )
        if pct <= self._critical and level < 2:
            level = 2
            out.append(
                _draft_at(
                    sample,
                    "critical_battery",
                    Severity.CRITICAL,
                    f"{vid} battery critical: {pct:.0f} % (threshold {self._critical:.0f} %)",
                    battery_pct=pct,
                )
            )
        self._level[vid] = level
        return out

    def on_event(self, event: SortieEvent) -> Sequence[IncidentDraft]:
        return ()


class LinkLostRule:
    """One incident per loss of link, until the controller reports it restored."""

    def __init__(self) -> None:
        self._lost: set[str] = set()

    def on_sample(self, sample: TelemetrySample) -> Sequence[IncidentDraft]:
        return ()

    def on_event(self, event: SortieEvent) -> Sequence[IncidentDraft]:
        vid = event.vehicle_id
        if event.kind is SortieEventKind.LINK_RESTORED:
            self._lost.discard(vid)
        elif event.kind is SortieEventKind.LINK_LOST and vid not in self._lost:
            self._lost.add(vid)
            return (
                IncidentDraft(
                    kind="link_lost",
                    severity=Severity.CRITICAL,
                    time_unix_us=event.time_unix_us,
                    summary=f"lost the link to {vid}"
                    + (f": {event.detail}" if event.detail else ""),
                    vehicle_id=vid,
                    sortie_id=event.sortie_id,
                ),
            )
        return ()


FAILSAFE_MODES = frozenset({"AUTO.RTL", "AUTO.LAND", "AUTO.PRECLAND"})


class FailsafeRule:
    """The vehicle switched itself to RTL/LAND: nobody commanded it and the mission wasn't ending.

    A mode is *expected* for `command_window_s` after a MODE_COMMANDED event for
    it, and RTL/LAND is expected when the mission was on its last item (a plan
    that ends in RTL). A FAILSAFE event from the controller raises directly. The
    episode ends when the vehicle leaves RTL/LAND or disarms.
    """

    def __init__(self, *, command_window_s: float = 10.0) -> None:
        self._window_us = int(command_window_s * 1e6)
        self._commanded: dict[str, tuple[str, int]] = {}  # vehicle → (mode, time)
        self._prev: dict[str, TelemetrySample] = {}
        self._in_episode: set[str] = set()

    def _expected(self, sample: TelemetrySample, prev: TelemetrySample | None) -> bool:
        cmd = self._commanded.get(sample.vehicle_id)
        if (
            cmd is not None
            and cmd[0] == sample.mode
            and 0 <= sample.time_unix_us - cmd[1] <= self._window_us
        ):
            return True
        return (
            prev is not None
            and prev.mode == "AUTO.MISSION"
            and prev.mission_seq is not None
            and prev.mission_total is not None
            and prev.mission_seq >= prev.mission_total - 1
        )

    def on_sample(self, sample: TelemetrySample) -> Sequence[IncidentDraft]:
        vid = sample.vehicle_id
        prev = self._prev.get(vid)
        self._prev[vid] = sample
        if sample.mode not in FAILSAFE_MODES or not sample.armed:
            self._in_episode.discard(vid)
            return ()
        if vid in self._in_episode:
            return ()
        self._in_episode.add(vid)  # expected or not, this excursion is now accounted for
        if prev is None or prev.mode == sample.mode:
            return ()  # we joined mid-excursion: we did not see who switched, so we can't say
        if self._expected(sample, prev):
            return ()
        was = prev.mode
        return (
            _draft_at(
                sample,
                "failsafe",
                Severity.CRITICAL,
                f"{vid} switched itself from {was} to {sample.mode} (failsafe)",
                mode=sample.mode,
                previous_mode=was,
            ),
        )

    def on_event(self, event: SortieEvent) -> Sequence[IncidentDraft]:
        vid = event.vehicle_id
        if event.kind is SortieEventKind.MODE_COMMANDED and event.mode:
            self._commanded[vid] = (event.mode, event.time_unix_us)
        elif event.kind is SortieEventKind.FAILSAFE and vid not in self._in_episode:
            self._in_episode.add(vid)
            return (
                IncidentDraft(
                    kind="failsafe",
                    severity=Severity.CRITICAL,
                    time_unix_us=event.time_unix_us,
                    summary=f"{vid} reported a failsafe"
                    + (f": {event.detail}" if event.detail else ""),
                    vehicle_id=vid,
                    sortie_id=event.sortie_id,
                ),
            )
        return ()


class SortieAbortedRule:
    """A sortie that ended any way but `completed` raises one incident."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, int | None]] = set()

    def on_sample(self, sample: TelemetrySample) -> Sequence[IncidentDraft]:
        return ()

    def on_event(self, event: SortieEvent) -> Sequence[IncidentDraft]:
        if event.kind is not SortieEventKind.ENDED or event.outcome in (None, "completed"):
            return ()
        key = (event.vehicle_id, event.sortie_id)
        if event.sortie_id is not None and key in self._seen:
            return ()
        self._seen.add(key)
        return (
            IncidentDraft(
                kind="sortie_aborted",
                severity=Severity.WARNING,
                time_unix_us=event.time_unix_us,
                summary=f"sortie {event.sortie_id} of {event.vehicle_id} ended {event.outcome}"
                + (f": {event.detail}" if event.detail else ""),
                vehicle_id=event.vehicle_id,
                sortie_id=event.sortie_id,
                details={"outcome": event.outcome},
            ),
        )


def default_rules(fence: Geofence | None = None) -> list[Rule]:
    rules: list[Rule] = [BatteryRule(), LinkLostRule(), FailsafeRule(), SortieAbortedRule()]
    if fence is not None and not fence.is_empty:
        rules.insert(0, GeofenceRule(fence))
    return rules


class RuleEngine:
    """Runs every rule and completes drafts with the vehicle's sortie and last position."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self._last: dict[str, TelemetrySample] = {}
        self._sortie: dict[str, int] = {}

    def _complete(self, drafts: Iterable[IncidentDraft]) -> list[IncidentDraft]:
        out = []
        for d in drafts:
            vid = d.vehicle_id
            if vid is not None:
                if d.sortie_id is None and vid in self._sortie:
                    d = dataclasses.replace(d, sortie_id=self._sortie[vid])
                last = self._last.get(vid)
                if d.lat_deg is None and last is not None and last.lat_deg is not None:
                    d = dataclasses.replace(
                        d, lat_deg=last.lat_deg, lon_deg=last.lon_deg, alt_amsl_m=last.alt_amsl_m
                    )
            out.append(d)
        return out

    def on_sample(self, sample: TelemetrySample) -> list[IncidentDraft]:
        self._last[sample.vehicle_id] = sample
        return self._complete(d for r in self.rules for d in r.on_sample(sample))

    def on_event(self, event: SortieEvent) -> list[IncidentDraft]:
        if event.kind is SortieEventKind.STARTED and event.sortie_id is not None:
            self._sortie[event.vehicle_id] = event.sortie_id
        drafts = self._complete(d for r in self.rules for d in r.on_event(event))
        if event.kind is SortieEventKind.ENDED:
            self._sortie.pop(event.vehicle_id, None)
        return drafts


class _Raiser(Protocol):
    async def raise_incident(self, draft: IncidentDraft, *, actor: str) -> Incident: ...


class RuleRunner:
    """Feeds a `RuleEngine` and raises what it finds in the incident book (as `actor`)."""

    def __init__(self, engine: RuleEngine, book: _Raiser, *, actor: str = "rules") -> None:
        self.engine = engine
        self._book = book
        self._actor = actor
        self.raised: list[Incident] = []

    async def _raise(self, drafts: Sequence[IncidentDraft]) -> list[Incident]:
        done = [await self._book.raise_incident(d, actor=self._actor) for d in drafts]
        self.raised.extend(done)
        return done

    async def sample(self, sample: TelemetrySample) -> list[Incident]:
        return await self._raise(self.engine.on_sample(sample))

    async def samples(self, batch: Iterable[TelemetrySample]) -> list[Incident]:
        out: list[Incident] = []
        for s in batch:
            out.extend(await self.sample(s))
        return out

    async def event(self, event: SortieEvent) -> list[Incident]:
        return await self._raise(self.engine.on_event(event))

    async def run_subscription(self, subscription: Subscription[TelemetrySample]) -> None:
        """Watch a telemetry bus subscription until the bus closes.

        Subscribe with `Policy.LOSSLESS`: a rule that misses the sample where an
        episode starts or ends would miss the incident or raise it twice.
        """
        while True:
            try:
                batch = await subscription.get_batch(256)
            except BusClosedError:
                return
            await self.samples(batch)
