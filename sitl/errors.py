"""The simulator's error hierarchy. Messages say what is wrong and what to do."""

from __future__ import annotations

__all__ = ["Px4NotFoundError", "SimConfigError", "SimPortInUseError", "SitlError"]


class SitlError(Exception):
    """Base for every error the simulator reports to a user."""


class SimConfigError(SitlError, ValueError):
    """A simulator setting is out of range (the message names it and the valid range)."""


class SimPortInUseError(SitlError):
    """A vehicle's UDP port is taken by another process."""

    def __init__(self, port: int, what: str) -> None:
        super().__init__(
            f"UDP port {port} ({what}) is already in use: stop the other simulator or PX4 "
            "instance, or choose other ports"
        )
        self.port = port


class Px4NotFoundError(SitlError):
    """No PX4 SITL build was found where we looked."""
