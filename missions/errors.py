"""Planning errors. Messages name the file/item/leg, the limit and the value."""

from __future__ import annotations

__all__ = ["MissionsError"]


class MissionsError(Exception):
    """Base for every planning error reported to a user."""
