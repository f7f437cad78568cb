"""Scheduled patrols: schedules in the store, the run claim, and the scheduler loop.

The `Schedule` value itself lives in `drone_ops.schedule`; leases between
controllers in `drone_ops.lease`; dispatch in `drone_ops.dispatch`.
"""

from drone_ops.scheduling.book import (
    ClaimedRun,
    RunRecord,
    RunStatus,
    ScheduleBook,
    StoredSchedule,
)
from drone_ops.scheduling.clock import Clock, ScaledClock, SystemClock
from drone_ops.scheduling.plans import GENERATORS, check_plan_file, load_plan
from drone_ops.scheduling.readiness import Selection, not_ready_reason, select_vehicle
from drone_ops.scheduling.scheduler import (
    RunLinkingRecorder,
    Scheduler,
    SchedulerStats,
    SortieChange,
    SortieListener,
)

__all__ = [
    "GENERATORS",
    "ClaimedRun",
    "Clock",
    "RunLinkingRecorder",
    "RunRecord",
    "RunStatus",
    "ScaledClock",
    "ScheduleBook",
    "Scheduler",
    "SchedulerStats",
    "Selection",
    "SortieChange",
    "SortieListener",
    "StoredSchedule",
    "SystemClock",
    "check_plan_file",
    "load_plan",
    "not_ready_reason",
    "select_vehicle",
]
