"""Patrol planning: plans, generators, constraints and file formats."""

from missions.errors import MissionsError

__all__ = ["MissionsError"]
