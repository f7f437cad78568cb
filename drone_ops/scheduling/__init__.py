"""Scheduled patrols: schedules in the store, the run claim, and the scheduler loop.

The `Schedule` value itself lives in `drone_ops.schedule`.
"""

from drone_ops.scheduling.book import (
    ClaimedRun,
    RunRecord,
    RunStatus,
    ScheduleBook,
    StoredSchedule,
)

__all__ = ["ClaimedRun", "RunRecord", "RunStatus", "ScheduleBook", "StoredSchedule"]
