"""What one attempt at a store write did, as far as the retry logic must know.

A write retried after a failure must not happen twice. Whether that is safe
depends on how far the failed attempt got: a failure before COMMIT was sent
rolled back (retry), a failure *during* COMMIT is in doubt (the server may have
committed and only the answer was lost). The engine marks the moment COMMIT is
sent and `append_in_tx` notes the audit entry the transaction carries; both are
thread-local because every store call runs in its own worker-thread call.
"""

from __future__ import annotations

import threading
from typing import Any

from drone_ops.audit import AuditEntry

__all__ = ["begin", "commit_sent", "note_commit", "note_entry", "noted_entry"]

_state = threading.local()


def begin() -> None:
    """Start tracking a new attempt in this thread."""
    _state.entry = None
    _state.committing = False


def note_entry(entry: AuditEntry) -> None:
    """The audit entry the current transaction appends (its hash identifies the write)."""
    _state.entry = entry


def note_commit(*_args: Any) -> None:
    """SQLAlchemy `commit` event: COMMIT is about to be sent."""
    _state.committing = True


def commit_sent() -> bool:
    """Whether the current attempt got as far as sending COMMIT."""
    return bool(getattr(_state, "committing", False))


def noted_entry() -> AuditEntry | None:
    """The audit entry the current attempt appended, if any."""
    entry: AuditEntry | None = getattr(_state, "entry", None)
    return entry
