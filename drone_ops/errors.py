"""The controller's error hierarchy. Messages say what is wrong and what to do."""

from __future__ import annotations

__all__ = ["DroneOpsError"]


class DroneOpsError(Exception):
    """Base for every error the controller reports to a user."""
