"""Simulated camera errors. Messages say what is wrong and what to do."""

from __future__ import annotations

from sitl.errors import SitlError

__all__ = ["CameraConfigError", "CameraError"]


class CameraError(SitlError):
    """Base for every simulated-camera error reported to a user (the CLI prints one line)."""


class CameraConfigError(CameraError, ValueError):
    """A camera setting (size, rate, field of view, port) is not usable."""
