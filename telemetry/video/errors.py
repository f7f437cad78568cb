"""Video errors. Messages say what is wrong and what to do."""

from __future__ import annotations

from telemetry.errors import TelemetryError

__all__ = ["BlobError", "EvidenceUnavailableError", "VideoConfigError", "VideoError"]


class VideoError(TelemetryError):
    """Base for every video ingest error reported to a user."""


class VideoConfigError(VideoError, ValueError):
    """A video setting (port, SDP file, durations, directory) is not usable."""


class BlobError(VideoError):
    """A blob (segment, clip, snapshot) cannot be stored, read or removed."""


class EvidenceUnavailableError(VideoError):
    """No video was received for the requested time, so no clip can be cut."""
