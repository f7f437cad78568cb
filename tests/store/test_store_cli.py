"""`drone-ops incidents …` and `drone-ops audit verify` end to end, on real stores."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from store_helpers import T0_US, disable_guard, raw_sql, track

from drone_ops.cli import main
from drone_ops.incidents import EvidenceLocker, IncidentDraft, Incidents, Severity
from drone_ops.store import StoreConfig, open_store


def seed(config: StoreConfig, tlog: Path | None = None) -> None:
    """A sortie with telemetry and one incident with telemetry and tlog evidence."""

    async def go() -> None:
        async with open_store(config) as store:
            sortie_id = await store.open_sortie(
                vehicle_id="v1",
                plan_name="harbour",
                plan_json="{}",
                started_us=T0_US,
                tlog_path=None if tlog is None else str(tlog),
            )
            await store.write_samples(track("v1", 300))
            await store.close_sortie(sortie_id, outcome="aborted", ended_us=T0_US + 30_000_000)
            book = Incidents(store)
            await book.raise_incident(
                IncidentDraft(
                    kind="geofence_breach",
                    severity=Severity.CRITICAL,
                    time_unix_us=T0_US + 10_000_000,
                    summary="v1 left the geofence",
                    vehicle_id="v1",
                    sortie_id=sortie_id,
                    lat_deg=52.0,
                    lon_deg=4.001,
                ),
                actor="rules",
            )
            await book.raise_incident(
                IncidentDraft(
                    kind="mark",
                    severity=Severity.INFO,
                    time_unix_us=T0_US,
                    summary="elsewhere",
                    vehicle_id="v2",
                    lat_deg=10.0,
                    lon_deg=10.0,
                ),
                actor="op:carol",
            )
            await EvidenceLocker(store).capture_telemetry_window(
                1, actor="rules", before_s=5, after_s=5
            )

    asyncio.run(go())


def cli(capsys: pytest.CaptureFixture[str], config: StoreConfig, *argv: str) -> tuple[int, str]:
    extra = ["--store", config.url, "--evidence-dir", str(config.resolved_evidence_dir())]
    code = main([*argv, *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def config(store_url: str, tmp_path: Path) -> StoreConfig:
    return StoreConfig(url=store_url, evidence_dir=tmp_path / "evidence")


def test_operator_workflow_and_a_bundle_that_sha256sum_verifies(
    capsys: pytest.CaptureFixture[str], config: StoreConfig, tmp_path: Path
) -> None:
    seed(config)
    code, out = cli(capsys, config, "incidents", "list", "--status", "open", "--bbox", "3,51,5,53")
    assert code == 0
    assert "geofence_breach" in out
    assert "elsewhere" not in out
    assert (
        cli(capsys, config, "incidents", "ack", "1", "--actor", "op:dave", "--note", "seen")[0] == 0
    )
    code, out = cli(capsys, config, "incidents", "resolve", "2", "--actor", "op:dave")
    assert code == 2
    assert "cannot resolve incident 2: it is open; acknowledge it first" in out
    assert "Traceback" not in out
    assert (
        cli(capsys, config, "incidents", "note", "1", "drone recovered", "--actor", "op:dave")[0]
        == 0
    )
    assert cli(capsys, config, "incidents", "resolve", "1", "--actor", "op:dave")[0] == 0
    code, out = cli(capsys, config, "incidents", "show", "1", "--json")
    doc = json.loads(out)
    assert doc["status"] == "resolved"
    assert [a["action"] for a in doc["audit"]] == [
        "incident.raise",
        "evidence.add",
        "evidence.add",
        "incident.acknowledged",
        "incident.note",
        "incident.resolved",
    ]
    code, out = cli(capsys, config, "incidents", "export", "1", "--out", str(tmp_path / "out"))
    assert code == 0, out
    bundle = tmp_path / "out" / "incident-1"
    sha = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True, check=False
    )
    assert sha.returncode == 0, sha.stdout + sha.stderr
    listed = {line.split(": ")[0] for line in sha.stdout.splitlines()}
    assert {"incident.json", "track.geojson", "README.txt", "audit/entries.jsonl"} <= listed
    assert sum(p.startswith("evidence/") for p in listed) == 2
    # each audit entry's hash is the SHA-256 of its preimage file, checkable with sha256sum
    entries = [json.loads(x) for x in (bundle / "audit" / "entries.jsonl").read_text().splitlines()]
    for e in entries:
        pre = bundle / "audit" / f"entry-{e['seq']:08d}.txt"
        got = subprocess.run(["sha256sum", str(pre)], capture_output=True, text=True, check=True)
        assert got.stdout.split()[0] == e["hash"]
    exported = json.loads((bundle / "incident.json").read_text())
    for ev in exported["evidence"]:  # each listed hash is the file's line in SHA256SUMS
        assert f"{ev['sha256']}  {ev['file']}" in (bundle / "SHA256SUMS").read_text()
    track_doc = json.loads((bundle / "track.geojson").read_text())
    assert track_doc["features"][0]["geometry"]["type"] == "LineString"
    assert len(track_doc["features"][0]["geometry"]["coordinates"]) == 300
    assert "sha256sum -c SHA256SUMS" in (bundle / "README.txt").read_text()
    # a file altered inside the bundle fails sha256sum -c
    (bundle / "incident.json").write_text("{}")
    sha = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, check=False
    )
    assert sha.returncode != 0
    # exporting over an existing bundle is refused
    code, out = cli(capsys, config, "incidents", "export", "1", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "already exists" in out


def test_audit_verify_names_the_edited_entry_and_the_altered_file(
    capsys: pytest.CaptureFixture[str], config: StoreConfig
) -> None:
    seed(config)
    code, out = cli(capsys, config, "audit", "verify")
    assert code == 0, out
    assert "OK:" in out
    assert "2 evidence files" in out

    async def edit() -> None:
        async with open_store(config) as store:
            raw_sql(
                store,
                *disable_guard(store),
                "UPDATE audit_entries SET actor = 'op:mallory' WHERE seq = 3",
            )

    asyncio.run(edit())
    code, out = cli(capsys, config, "audit", "verify")
    assert code == 1
    assert "FAILED: audit entry 3 (incident.raise incident:1) does not match its hash" in out


def test_audit_verify_names_an_altered_evidence_file(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    config = StoreConfig(url=sqlite_url, evidence_dir=tmp_path / "evidence")
    seed(config)
    csv = next((tmp_path / "evidence" / "incident-1").glob("*telemetry.csv"))
    csv.chmod(0o644)
    csv.write_text(csv.read_text().replace("52.0", "51.9"))
    code, out = cli(capsys, config, "audit", "verify")
    assert code == 1
    assert f"evidence file {csv} does not match its recorded SHA-256" in out


def test_tlog_slice_evidence_from_the_sortie_tlog(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    from telemetry.tlog import read_tlog

    tlog = tmp_path / "sortie.tlog"
    import struct

    from pymavlink.dialects.v20 import common as mavlink2

    mav = mavlink2.MAVLink(None, srcSystem=1, srcComponent=1)
    with tlog.open("wb") as f:
        for i in range(40):  # one heartbeat per second from T0
            msg = mavlink2.MAVLink_heartbeat_message(2, 12, 157, 0x04040000, 4, 3)
            f.write(struct.pack(">Q", T0_US + i * 1_000_000) + msg.pack(mav))
    config = StoreConfig(url=sqlite_url, evidence_dir=tmp_path / "evidence")
    seed(config, tlog=tlog)
    code, out = cli(
        capsys, config, "incidents", "evidence", "1", "--tlog", "--before", "2", "--after", "3"
    )
    assert code == 0, out
    sliced = next((tmp_path / "evidence" / "incident-1").glob("*sortie-slice.tlog"))
    times = [f.time_unix_us for f in read_tlog(sliced)]
    assert times == [T0_US + s * 1_000_000 for s in range(8, 14)]
    assert cli(capsys, config, "audit", "verify")[0] == 0


def test_bad_input_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["incidents", "list", "--store", "mysql://x/y"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "not supported: use sqlite:/// or postgresql://" in err
    store = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["audit", "verify", "--store", store]) == 2
    assert f"no store at {tmp_path / 'x.db'}" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()

    async def create() -> None:
        async with open_store(store):
            pass

    asyncio.run(create())
    assert main(["incidents", "list", "--since", "yesterday", "--store", store]) == 2
    assert "not ISO 8601" in capsys.readouterr().err
    assert main(["incidents", "show", "7", "--store", store]) == 2
    assert "incident 7 does not exist" in capsys.readouterr().err
