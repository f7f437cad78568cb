"""The Schedule model's run times: cron, intervals, DST, windows across midnight,
missed-run policies and persistence. Pure logic, fixed instants, no clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from drone_ops.schedule import (
    MAX_MISSED_LISTED,
    ActiveWindow,
    MissedRunPolicy,
    PlanSource,
    Preconditions,
    RetryPolicy,
    Schedule,
    ScheduleError,
)

ZURICH = ZoneInfo("Europe/Zurich")
PLAN = PlanSource(file="depot.plan")


def local(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZURICH, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_interval_ticks_are_aligned_to_the_anchor_and_strictly_after() -> None:
    s = Schedule(name="p", plan=PLAN, interval_s=1800)
    assert s.next_run_after(utc(2026, 6, 1, 10, 0)) == utc(2026, 6, 1, 10, 30)
    assert s.next_run_after(utc(2026, 6, 1, 10, 1)) == utc(2026, 6, 1, 10, 30)
    assert s.runs_between(utc(2026, 6, 1, 0, 0), utc(2026, 6, 2, 0, 0))[-1] == utc(2026, 6, 2)
    assert len(s.runs_between(utc(2026, 6, 1, 0, 0), utc(2026, 6, 2, 0, 0))) == 48


def test_interval_counts_elapsed_time_across_dst() -> None:
    s = Schedule(name="p", plan=PLAN, interval_s=3600, tz="Europe/Zurich")
    runs = s.runs_between(local(2026, 10, 25, 0, 30), local(2026, 10, 25, 4, 30))
    gaps = {b - a for a, b in itertools.pairwise(runs)}
    assert gaps == {timedelta(hours=1)}
    assert len(runs) == 5  # 4 wall hours but 5 elapsed hours on fall-back night


def test_wildcard_hour_cron_follows_elapsed_time_across_spring_forward() -> None:
    s = Schedule(name="p", plan=PLAN, cron="*/30 * * * *", tz="Europe/Zurich")
    runs = s.runs_between(local(2026, 3, 29, 1, 0), local(2026, 3, 29, 4, 0))
    assert [r.astimezone(ZURICH).strftime("%H:%M") for r in runs] == [
        "01:30",
        "03:00",  # 02:00 and 02:30 do not exist that night
        "03:30",
        "04:00",
    ]
    assert {b - a for a, b in itertools.pairwise(runs)} == {timedelta(minutes=30)}


def test_wildcard_hour_cron_runs_the_repeated_hour_twice_on_fall_back() -> None:
    s = Schedule(name="p", plan=PLAN, cron="*/30 * * * *", tz="Europe/Zurich")
    runs = s.runs_between(local(2026, 10, 25, 1, 45), local(2026, 10, 25, 3, 0))
    assert len(runs) == 5  # 02:00 02:30 (CEST), 02:00 02:30 (CET), 03:00
    assert {b - a for a, b in itertools.pairwise(runs)} == {timedelta(minutes=30)}


def test_fixed_hour_cron_runs_once_a_day_across_both_dst_changes() -> None:
    s = Schedule(name="p", plan=PLAN, cron="30 2 * * *", tz="Europe/Zurich")
    spring = s.runs_between(local(2026, 3, 27, 12, 0), local(2026, 3, 31, 12, 0))
    assert len(spring) == 4
    assert {r.astimezone(ZURICH).date().day for r in spring} == {28, 29, 30, 31}
    fall = s.runs_between(local(2026, 10, 23, 12, 0), local(2026, 10, 27, 12, 0))
    assert len(fall) == 4  # 02:30 happens twice on the 25th: one run
    fall_back_day = [r for r in fall if r.astimezone(ZURICH).day == 25]
    assert fall_back_day == [local(2026, 10, 25, 2, 30, fold=0).astimezone(UTC)]


def test_window_across_midnight_in_local_time() -> None:
    s = Schedule(
        name="night",
        plan=PLAN,
        cron="*/30 * * * *",
        tz="Europe/Zurich",
        window=ActiveWindow.parse("22:00-06:00"),
    )
    runs = s.runs_between(local(2026, 6, 1, 12, 0), local(2026, 6, 2, 12, 0))
    walls = [r.astimezone(ZURICH).strftime("%H:%M") for r in runs]
    assert walls[0] == "22:00"
    assert walls[-1] == "05:30"  # 06:00 is the end: exclusive
    assert len(runs) == 16  # 8 hours × 2
    assert "12:30" not in walls


def test_interval_with_window_jumps_to_the_opening() -> None:
    s = Schedule(
        name="night",
        plan=PLAN,
        interval_s=600,
        tz="Europe/Zurich",
        window=ActiveWindow(start=time(22, 0), end=time(23, 0)),
    )
    runs = s.runs_between(local(2026, 6, 1, 0, 0), local(2026, 6, 3, 0, 0))
    assert len(runs) == 12
    assert runs[0] == local(2026, 6, 1, 22, 0).astimezone(UTC)


def test_a_schedule_that_can_never_run_has_no_next_run() -> None:
    s = Schedule(
        name="never",
        plan=PLAN,
        cron="0 12 * * *",
        window=ActiveWindow.parse("22:00-06:00"),
    )
    assert s.next_run_after(utc(2026, 1, 1)) is None


def test_due_on_time_runs_the_newest_and_skips_older_missed_runs() -> None:
    s = Schedule(name="p", plan=PLAN, interval_s=1800, late_grace_s=60)
    due = s.due(cursor=utc(2026, 6, 1, 9, 59), now=utc(2026, 6, 1, 10, 0, 30))
    assert due.run_utc == utc(2026, 6, 1, 10, 0)
    assert not due.late
    assert due.missed_utc == ()
    assert due.cursor_utc == utc(2026, 6, 1, 10, 0, 30)
    nothing = s.due(cursor=due.cursor_utc, now=utc(2026, 6, 1, 10, 20))
    assert nothing.run_utc is None
    assert nothing.missed_utc == ()


def test_missed_runs_with_skip_policy_are_all_recorded_and_none_run() -> None:
    s = Schedule(name="p", plan=PLAN, interval_s=1800, missed=MissedRunPolicy.SKIP)
    due = s.due(cursor=utc(2026, 6, 1, 9, 59), now=utc(2026, 6, 1, 11, 10))
    assert due.run_utc is None
    assert due.missed_utc == (utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 10, 30), utc(2026, 6, 1, 11))


def test_missed_runs_with_run_once_late_policy_run_the_newest_once() -> None:
    s = Schedule(name="p", plan=PLAN, interval_s=1800, missed=MissedRunPolicy.RUN_ONCE_LATE)
    due = s.due(cursor=utc(2026, 6, 1, 9, 59), now=utc(2026, 6, 1, 11, 10))
    assert due.run_utc == utc(2026, 6, 1, 11, 0)
    assert due.late
    assert due.missed_utc == (utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 10, 30))


def test_a_year_of_missed_runs_is_counted_not_listed() -> None:
    s = Schedule(name="p", plan=PLAN, interval_s=1800)
    due = s.due(cursor=utc(2025, 6, 1), now=utc(2026, 6, 1, 0, 10))
    assert len(due.missed_utc) == MAX_MISSED_LISTED
    assert len(due.missed_utc) + due.missed_uncounted == 365 * 48


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cron": "every half hour"}, "5-field"),
        ({"cron": "*/30 * * * *", "interval_s": 60}, "exactly one"),
        ({}, "exactly one"),
        ({"interval_s": 0.1}, ">= 1 s"),
        ({"interval_s": 60, "tz": "Mars/Olympus"}, "unknown time zone"),
        ({"interval_s": 60, "vehicles": ("v1", "v1")}, "twice"),
    ],
)
def test_bad_schedules_are_refused_with_a_clear_message(
    kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ScheduleError) as info:
        Schedule(name="p", plan=PLAN, **kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["22:00", "25:00-06:00", "22:00-06:60", "06:00-06:00"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        ActiveWindow.parse(text)


def test_plan_source_needs_exactly_one_of_file_or_generator() -> None:
    with pytest.raises(ScheduleError):
        PlanSource()
    with pytest.raises(ScheduleError):
        PlanSource(file="a.plan", generator="perimeter")


def test_json_round_trip_keeps_every_field() -> None:
    s = Schedule(
        name="night",
        plan=PlanSource(generator="perimeter", params={"inset_m": 5.0, "alt_m": 30}),
        cron="*/30 * * * *",
        tz="Europe/Zurich",
        window=ActiveWindow.parse("22:00-06:00"),
        vehicles=("v1", "v2"),
        preconditions=Preconditions(min_battery_pct=60, require_docked=False),
        missed=MissedRunPolicy.RUN_ONCE_LATE,
        late_grace_s=30,
        retry=RetryPolicy(max_attempts=5, delay_s=45),
        enabled=False,
    )
    assert Schedule.from_json(s.to_json()) == s
