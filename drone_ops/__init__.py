"""Controller: vehicle link, fleet, patrol runner, store, scheduler, CLI."""

from drone_ops.errors import DroneOpsError

__all__ = ["DroneOpsError"]
