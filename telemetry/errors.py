"""Telemetry errors. Messages say what is wrong and what to do."""

from __future__ import annotations

__all__ = ["TelemetryError"]


class TelemetryError(Exception):
    """Base for every telemetry error reported to a user."""
