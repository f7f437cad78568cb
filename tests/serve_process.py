"""`drone-ops serve` as its own process, for tests that kill it, restart it or read its log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

REPO = str(Path(__file__).resolve().parents[1])


async def start_serve(
    *args: str,
    cwd: Path,
    stderr: int | IO[Any] = asyncio.subprocess.PIPE,
    stdout: int | IO[Any] = asyncio.subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """`python -m drone_ops.cli serve ARGS` in `cwd` (its outbox and var/ live there)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drone_ops.cli", "serve", *args,
        cwd=cwd, env={**(env if env is not None else os.environ), "PYTHONPATH": REPO},
        stdout=stdout, stderr=stderr,
    )  # fmt: skip


def log_lines(path: Path) -> list[dict[str, Any]]:
    """serve's stderr: JSON log lines; anything else (a traceback) as {'raw': line}."""
    out: list[dict[str, Any]] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"raw": line})
    return out
