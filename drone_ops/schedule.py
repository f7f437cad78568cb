"""The `Schedule` model: when a patrol runs, with what, on which vehicle.

A schedule is a value: it computes its own run times from a given instant and
never reads a clock, so the scheduler can drive it with the simulator's
sped-up clock and tests can drive it with fixed instants.

Time semantics (the ones cron users expect, written down once):

- `interval_s` counts elapsed time: "every 1800 s" is every 1800 s of UTC,
  whatever the wall clock does at a DST change. Ticks are aligned to
  `anchor_utc` (default: the Unix epoch, so 1800 s ticks fall on :00 and :30).
- `cron` is wall time in `tz` (croniter). Around DST changes we follow Vixie
  cron: an expression whose hour field starts with `*` follows elapsed time
  (the repeated hour runs twice, the skipped hour not at all); a fixed-hour
  expression runs once a day: a time skipped by spring-forward runs at the
  transition, a time repeated by fall-back runs at its first occurrence only.
- The active window (e.g. 22:00-06:00, which crosses midnight) is wall time in
  `tz` too; a run time outside it is simply not a run time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from drone_ops.errors import DroneOpsError

__all__ = [
    "ActiveWindow",
    "DueRuns",
    "MissedRunPolicy",
    "PlanSource",
    "Preconditions",
    "RetryPolicy",
    "Schedule",
    "ScheduleError",
]

# How far ahead a search for the next run may look before the schedule is
# declared one that never runs (e.g. a cron day that the window excludes).
_SEARCH_HORIZON = timedelta(days=400)
# Missed runs listed one by one; more than this are counted, not listed.
MAX_MISSED_LISTED = 500


class ScheduleError(DroneOpsError, ValueError):
    """A schedule value is malformed or can never run."""


def _require_utc(when: datetime, what: str) -> datetime:
    if when.tzinfo is None:
        raise ScheduleError(f"{what} {when.isoformat()} has no time zone; give an aware datetime")
    return when.astimezone(UTC)


class MissedRunPolicy(StrEnum):
    """What to do with runs that passed while no controller could run them."""

    SKIP = "skip"  # record every missed run as skipped
    RUN_ONCE_LATE = "run_once_late"  # run the newest missed run now, skip the others


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _parse_hhmm(text: str) -> time:
    m = _HHMM.match(text.strip())
    if m is None:
        raise ScheduleError(f"window time {text!r} is not HH:MM (e.g. 22:00)")
    return time(int(m.group(1)), int(m.group(2)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveWindow:
    """Wall-time window in which runs may start; `end <= start` crosses midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ScheduleError(
                f"window {self} is empty (start equals end); leave the window out to run all day"
            )

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @classmethod
    def parse(cls, text: str) -> ActiveWindow:
        """Parse `HH:MM-HH:MM`, e.g. `22:00-06:00`."""
        parts = text.split("-")
        if len(parts) != 2:
            raise ScheduleError(f"window {text!r} is not HH:MM-HH:MM (e.g. 22:00-06:00)")
        return cls(start=_parse_hhmm(parts[0]), end=_parse_hhmm(parts[1]))

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def contains(self, wall: time) -> bool:
        wall = wall.replace(tzinfo=None)
        if self.crosses_midnight:
            return wall >= self.start or wall < self.end
        return self.start <= wall < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """A run that cannot start (no vehicle ready) is tried again, a few times."""

    max_attempts: int = 3
    delay_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ScheduleError(f"retry attempts {self.max_attempts} must be >= 1")
        if not (math.isfinite(self.delay_s) and self.delay_s > 0.0):
            raise ScheduleError(f"retry delay {self.delay_s} s must be > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Preconditions:
    """What a vehicle must satisfy before a scheduled sortie may use it."""

    min_battery_pct: float = 80.0
    require_idle: bool = True
    require_healthy: bool = True
    require_docked: bool = True
    dock_radius_m: float = 5.0  # the simulator charges within 5 m of home

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_battery_pct) and 0.0 <= self.min_battery_pct <= 100.0):
            raise ScheduleError(f"minimum battery {self.min_battery_pct} % is outside 0..100")
        if not (math.isfinite(self.dock_radius_m) and self.dock_radius_m > 0.0):
            raise ScheduleError(f"dock radius {self.dock_radius_m} m must be > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSource:
    """A plan file, or a `missions` generator name with its parameters."""

    file: str | None = None
    generator: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if (self.file is None) == (self.generator is None):
            raise ScheduleError("a schedule needs exactly one of a plan file or a generator")
        if not isinstance(self.params, MappingProxyType):
            object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def describe(self) -> str:
        if self.file is not None:
            return self.file
        args = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.generator}({args})" if args else f"{self.generator}()"


@dataclass(frozen=True, slots=True, kw_only=True)
class DueRuns:
    """What the scheduler should do now: one run (maybe late) and the runs it missed."""

    run_utc: datetime | None
    late: bool
    missed_utc: tuple[datetime, ...]
    missed_uncounted: int  # missed beyond MAX_MISSED_LISTED, counted only
    cursor_utc: datetime  # everything up to here has been handled


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """One recurring patrol. See the module docstring for the time semantics."""

    name: str
    plan: PlanSource
    cron: str | None = None
    interval_s: float | None = None
    anchor_utc: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    tz: str = "UTC"
    window: ActiveWindow | None = None
    vehicles: tuple[str, ...] = ()  # () any vehicle; one: that vehicle; more: a pool
    preconditions: Preconditions = field(default_factory=Preconditions)
    missed: MissedRunPolicy = MissedRunPolicy.SKIP
    late_grace_s: float = 60.0  # a run started this late still counts as on time
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 100:
            raise ScheduleError(f"schedule name {self.name!r} must be 1..100 characters")
        if (self.cron is None) == (self.interval_s is None):
            raise ScheduleError(
                f"schedule {self.name!r}: give exactly one of a cron expression or an interval"
            )
        if self.cron is not None and (
            len(self.cron.split()) != 5 or not croniter.is_valid(self.cron)
        ):
            raise ScheduleError(
                f"schedule {self.name!r}: cron {self.cron!r} is not a 5-field expression "
                "(minute hour day month weekday, e.g. '*/30 * * * *')"
            )
        if self.interval_s is not None and not (
            math.isfinite(self.interval_s) and self.interval_s >= 1.0
        ):
            raise ScheduleError(
                f"schedule {self.name!r}: interval {self.interval_s} s must be >= 1 s"
            )
        object.__setattr__(self, "anchor_utc", _require_utc(self.anchor_utc, "anchor"))
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScheduleError(
                f"schedule {self.name!r}: unknown time zone {self.tz!r} (use an IANA name "
                "such as Europe/Zurich)"
            ) from exc
        if not (math.isfinite(self.late_grace_s) and self.late_grace_s >= 0.0):
            raise ScheduleError(f"schedule {self.name!r}: late grace must be >= 0 s")
        if len(set(self.vehicles)) != len(self.vehicles):
            raise ScheduleError(f"schedule {self.name!r}: vehicle pool lists a vehicle twice")

    # ------------------------------------------------------------ run times
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def describe_timing(self) -> str:
        when = f"cron '{self.cron}'" if self.cron is not None else f"every {self.interval_s:g} s"
        if self.window is not None:
            when += f" within {self.window}"
        return f"{when} ({self.tz})"

    def in_window(self, when_utc: datetime) -> bool:
        if self.window is None:
            return True
        return self.window.contains(when_utc.astimezone(self.zone).time())

    def _raw_after(self, after_utc: datetime) -> Iterator[datetime]:
        """Candidate run times strictly after `after_utc`, ignoring the window."""
        if self.interval_s is not None:
            return self._interval_after(after_utc, self.interval_s)
        assert self.cron is not None
        return self._cron_after(after_utc, self.cron)

    def _interval_after(self, after_utc: datetime, step_s: float) -> Iterator[datetime]:
        k = math.floor((after_utc - self.anchor_utc).total_seconds() / step_s)
        while True:
            when = self.anchor_utc + timedelta(seconds=k * step_s)
            if when > after_utc:
                yield when
            k += 1

    def _cron_after(self, after_utc: datetime, cron: str) -> Iterator[datetime]:
        fixed_hour = not cron.split()[1].startswith("*")
        it = croniter(cron, after_utc.astimezone(self.zone))
        last = after_utc
        while True:
            local: datetime = it.get_next(datetime)
            if fixed_hour and _second_occurrence(local):
                continue  # fall-back repeats this wall time: fixed times run once
            when = local.astimezone(UTC)
            if when > last:
                last = when
                yield when

    def runs_after(self, after: datetime) -> Iterator[datetime]:
        """Run times (UTC) strictly after `after`, in order, window applied."""
        cursor = _require_utc(after, "start")
        horizon = cursor + _SEARCH_HORIZON
        while True:
            for when in self._raw_after(cursor):
                if when > horizon:
                    return  # nothing for a long time: this schedule never runs again
                if self.in_window(when):
                    horizon = when + _SEARCH_HORIZON
                    yield when
                elif self.interval_s is not None:
                    # jump to the next window opening instead of stepping through the night
                    cursor = self._next_window_open(when) - timedelta(microseconds=1)
                    break
            else:  # pragma: no cover - the generators are endless
                return

    def _next_window_open(self, when_utc: datetime) -> datetime:
        assert self.window is not None
        local = when_utc.astimezone(self.zone)
        day = local.date()
        for d in range(3):
            opening = datetime.combine(day + timedelta(days=d), self.window.start, self.zone)
            if opening.astimezone(UTC) > when_utc:
                return opening.astimezone(UTC)
        return when_utc + timedelta(days=1)  # pragma: no cover - unreachable with a valid window

    def next_run_after(self, after: datetime) -> datetime | None:
        """The first run time strictly after `after`, or None if it never runs again."""
        return next(self.runs_after(after), None)

    def runs_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Run times in (start, end]."""
        end_utc = _require_utc(end, "end")
        out: list[datetime] = []
        for when in self.runs_after(start):
            if when > end_utc:
                break
            out.append(when)
        return out

    def due(self, *, cursor: datetime, now: datetime) -> DueRuns:
        """Decide what is due at `now`, given everything up to `cursor` was handled.

        The newest run time within `late_grace_s` of `now` runs on time. Older
        ones are missed: `SKIP` records them all as skipped; `RUN_ONCE_LATE`
        runs the newest of them (once) and records the rest as skipped.
        """
        now_utc = _require_utc(now, "now")
        listed: list[datetime] = []
        uncounted = 0
        newest: datetime | None = None
        for when in self.runs_after(cursor):
            if when > now_utc:
                break
            if newest is not None:
                if len(listed) < MAX_MISSED_LISTED:
                    listed.append(newest)
                else:
                    uncounted += 1
            newest = when
        if newest is None:
            return DueRuns(
                run_utc=None, late=False, missed_utc=(), missed_uncounted=0, cursor_utc=now_utc
            )
        on_time = (now_utc - newest).total_seconds() <= self.late_grace_s
        if on_time:
            run, late = newest, False
        elif self.missed is MissedRunPolicy.RUN_ONCE_LATE:
            run, late = newest, True
        else:
            run, late = None, False
            if len(listed) < MAX_MISSED_LISTED:
                listed.append(newest)
            else:
                uncounted += 1
        return DueRuns(
            run_utc=run,
            late=late,
            missed_utc=tuple(listed),
            missed_uncounted=uncounted,
            cursor_utc=now_utc,
        )

    def accepts_vehicle(self, vehicle_id: str) -> bool:
        return not self.vehicles or vehicle_id in self.vehicles

    # ------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what the store keeps); `from_json` reverses it."""
        return {
            "name": self.name,
            "plan": {
                "file": self.plan.file,
                "generator": self.plan.generator,
                "params": dict(self.plan.params),
            },
            "cron": self.cron,
            "interval_s": self.interval_s,
            "anchor_utc": self.anchor_utc.isoformat(),
            "tz": self.tz,
            "window": str(self.window) if self.window is not None else None,
            "vehicles": list(self.vehicles),
            "preconditions": {
                "min_battery_pct": self.preconditions.min_battery_pct,
                "require_idle": self.preconditions.require_idle,
                "require_healthy": self.preconditions.require_healthy,
                "require_docked": self.preconditions.require_docked,
                "dock_radius_m": self.preconditions.dock_radius_m,
            },
            "missed": self.missed.value,
            "late_grace_s": self.late_grace_s,
            "retry": {"max_attempts": self.retry.max_attempts, "delay_s": self.retry.delay_s},
            "enabled": self.enabled,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schedule:
        try:
            plan = data["plan"]
            pre = data.get("preconditions") or {}
            retry = data.get("retry") or {}
            window = data.get("window")
            return cls(
                name=str(data["name"]),
                plan=PlanSource(
                    file=plan.get("file"),
                    generator=plan.get("generator"),
                    params=plan.get("params") or {},
                ),
                cron=data.get("cron"),
                interval_s=data.get("interval_s"),
                anchor_utc=datetime.fromisoformat(data.get("anchor_utc") or "1970-01-01T00:00Z"),
                tz=str(data.get("tz", "UTC")),
                window=ActiveWindow.parse(window) if window else None,
                vehicles=tuple(data.get("vehicles") or ()),
                preconditions=Preconditions(**pre),
                missed=MissedRunPolicy(data.get("missed", "skip")),
                late_grace_s=float(data.get("late_grace_s", 60.0)),
                retry=RetryPolicy(**retry),
                enabled=bool(data.get("enabled", True)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ScheduleError(f"stored schedule is malformed ({exc}); re-add it") from exc


def _second_occurrence(local: datetime) -> bool:
    """True if `local` is the later of two wall times repeated by a fall-back."""
    first = local.replace(fold=0).utcoffset()
    second = local.replace(fold=1).utcoffset()
    if first == second or first is None or second is None:
        return False
    # ambiguous (fall-back: first offset > second) and we hold the second offset
    return first > second and local.utcoffset() == second
