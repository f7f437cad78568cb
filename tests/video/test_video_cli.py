"""`drone-ops demo --video` and `drone-ops serve --sim --video`: an incident gets clip and
snapshot evidence from a simulated camera, and `audit verify` re-hashes them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from drone_ops.cli import main

EVIDENCE = re.compile(
    r"^demo: incident (\d+) evidence (video|snapshot) (\S+) sha256 ([0-9a-f]{64})$"
)


def test_demo_with_video_files_verified_clip_and_snapshot_for_its_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var = tmp_path / "var"
    code = main(
        ["demo", "--headless", "--video", "--count", "1", "--speedup", "25",
         "--var", str(var), "--video-pre", "2", "--video-post", "2"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    found = {m.group(2): m for m in map(EVIDENCE.match, out.splitlines()) if m}
    assert set(found) == {"video", "snapshot"}, out
    assert found["video"].group(1) == found["snapshot"].group(1)  # one incident
    assert "demo: audit verify: OK" in out
    assert "2 evidence files match" in out
    clip = Path(found["video"].group(3))
    snapshot = Path(found["snapshot"].group(3))
    assert clip.read_bytes()[4:8] == b"ftyp"  # an MP4
    assert snapshot.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    for m in found.values():
        assert hashlib.sha256(Path(m.group(3)).read_bytes()).hexdigest() == m.group(4)

    store = ["--store", f"sqlite:///{var / 'drone-ops.db'}"]
    assert main(["audit", "verify", *store]) == 0
    capsys.readouterr()
    with clip.open("r+b") as f:  # one byte of the footage changed after filing
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    assert main(["audit", "verify", *store]) == 1
    out, _ = capsys.readouterr()
    assert "FAILED" in out
    assert clip.name in out
