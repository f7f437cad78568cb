"""File format errors: they name the file, the line or JSON path, and what was expected."""

from __future__ import annotations

from missions.errors import MissionsError

__all__ = ["FormatError"]


class FormatError(MissionsError, ValueError):
    """A file that cannot be read as a plan or an area."""

    def __init__(self, source: str, where: str, message: str) -> None:
        self.source = source
        self.where = where
        super().__init__(f"{source}: {where}: {message}" if where else f"{source}: {message}")
