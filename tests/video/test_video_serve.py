"""`drone-ops serve --sim 1 --video` as a real process: an operator's mark from another
process (`incidents mark`) is found by the video sweep and gets clip and snapshot
evidence from the simulated camera; after SIGTERM `audit verify` re-hashes them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[2])
CLI = [sys.executable, "-m", "drone_ops.cli"]


async def cli(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *argv, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def until(argv: list[str], done: object, timeout_s: float = 90.0) -> str:
    """Repeat a CLI command until `done(exit code, output)`: the only way to see into
    another process's store."""
    async with asyncio.timeout(timeout_s):
        while True:
            code, out = await cli(*argv)
            if done(code, out):  # type: ignore[operator]
                return out
            await asyncio.sleep(0.5)


async def test_serve_with_video_files_verified_footage_for_a_mark(tmp_path: Path) -> None:
    db = tmp_path / "ops.db"
    config = tmp_path / "serve.toml"
    config.write_text(
        f"""
[service]
store = "sqlite:///{db}"
metrics_port = -1
tlog_dir = "{tmp_path / "tlog"}"
speedup = 10
scheduler_poll_s = 5

[video]
dir = "{tmp_path / "video"}"
pre_s = 2
post_s = 2
"""
    )
    store = ["--store", f"sqlite:///{db}"]
    serve = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--config", str(config), "--sim", "1", "--video",
        cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        # once the vehicle's telemetry is stored, the mark has a position
        out = await until(
            ["incidents", "mark", "sim1", "person on the roof", *store],
            lambda code, out: code == 0,
        )
        incident_id = out.split()[1]
        shown = await until(
            ["incidents", "show", incident_id, "--json", *store],
            lambda code, out: code == 0 and len(json.loads(out)["evidence"]) >= 2,
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(serve.communicate(), 60)
    assert serve.returncode == 0, err.decode()[-2000:]
    evidence = json.loads(shown)["evidence"]
    assert sorted(e["kind"] for e in evidence) == ["snapshot", "video"]
    code, out = await cli("audit", "verify", *store)
    assert code == 0, out
    assert "2 evidence files match" in out


def test_the_video_table_is_read_and_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    from drone_ops.service import ServiceError, load_service_config

    path = tmp_path / "serve.toml"
    path.write_text(
        '[video]\nenabled = true\ndir = "clips"\npre_s = 5\npost_s = 7\nretention_s = 3600\n'
    )
    video = load_service_config(path).video
    assert (video.enabled, video.dir, video.pre_s, video.post_s, video.retention_s) == (
        True, Path("clips"), 5.0, 7.0, 3600.0,
    )  # fmt: skip
    for text, fragment in (
        ("[video]\nretention = 5\n", "unknown keys ['retention']"),
        ("[video]\npre_s = -1\n", "pre_s and post_s must be >= 0"),
        ('[video]\npost_s = "long"\n', "must be numbers"),
    ):
        path.write_text(text)
        with pytest.raises(ServiceError, match=re.escape(fragment)) as info:
            load_service_config(path)
        assert "\n" not in str(info.value)
