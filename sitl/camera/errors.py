"""Simulated camera errors. Messages say what is wrong and what to do."""

from __future__ import annotations

__all__ = ["CameraConfigError", "CameraError"]


class CameraError(Exception):
    """Base for every simulated-camera error reported to a user."""


class CameraConfigError(CameraError, ValueError):
    """A camera setting (size, rate, field of view, port) is not usable."""
