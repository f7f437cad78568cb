"""MAVLink 2 signing between the controller and the simulator, over real UDP.

The controller signs what MAVSDK sends and checks what the vehicle sends;
the simulator (with a key) signs everything and ignores what is not signed
with its key. pymavlink's own signing is the independent reference.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.audit import MemoryAuditLog
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.keys import KeyStore, SigningKeyError, fingerprint, rotate_key
from drone_ops.link.address import parse_address
from drone_ops.link.frames import FrameSplitter
from drone_ops.link.signing import LinkSigner, LinkVerifier, signing_timestamp
from drone_ops.session import VehicleSession
from drone_ops.sortie import MemorySortieRecorder, SortieOutcome
from tests.controller.conftest import patrol

SPEEDUP = 10.0
FLY_SPEEDUP = 25.0  # for the patrol: its wall time is simulated flight
_ARM = 400
_REQUEST_MESSAGE = 512


class _Sink:
    def write(self, _b: bytes) -> None:
        pass


def _mav(key: bytes | None, *, sysid: int = 250, link_id: int = 3) -> Any:
    """A pymavlink endpoint, signing with `key` (pymavlink's implementation, not ours)."""
    mav = mavlink2.MAVLink(_Sink(), srcSystem=sysid, srcComponent=190)
    if key is not None:
        mav.signing.secret_key = key
        mav.signing.link_id = link_id
        mav.signing.sign_outgoing = True
        mav.signing.timestamp = signing_timestamp()
    return mav


@asynccontextmanager
async def _controller(
    sim: Any, key: bytes | None, speedup: float = SPEEDUP
) -> AsyncIterator[tuple[Fleet, VehicleSession]]:
    cfg = ControllerConfig().scaled(speedup)
    async with Fleet(audit=MemoryAuditLog(), config=cfg, recorder=MemorySortieRecorder()) as fleet:
        session = await fleet.add_vehicle(
            "v1", f"udpin://127.0.0.1:{sim.api_port(0)}", signing_key=key
        )
        await session.wait_for(
            lambda st: st.home is not None and st.health_ok is not None, timeout_s=20
        )
        yield fleet, session


def test_our_signer_and_pymavlink_agree() -> None:
    """Frames signed by the hub's signer verify in pymavlink, and pymavlink's in ours."""
    key = secrets.token_bytes(32)
    plain = mavlink2.MAVLink_command_long_message(1, 1, _ARM, 0, 1, 0, 0, 0, 0, 0, 0).pack(
        _mav(None)
    )
    signed = LinkSigner(key, link_id=5).sign(bytes(plain))
    assert signed is not None
    assert signed[2] & 0x01
    assert len(signed) == len(plain) + 13
    rx = mavlink2.MAVLink(_Sink())
    rx.signing.secret_key = key
    msg = rx.parse_char(signed)
    assert msg is not None
    assert msg.get_type() == "COMMAND_LONG"
    assert msg.command == _ARM
    assert rx.signing.goodsig_count == 1

    wrong = mavlink2.MAVLink(_Sink())
    wrong.signing.secret_key = secrets.token_bytes(32)
    wrong.robust_parsing = True
    assert wrong.parse_char(signed).get_type() == "BAD_DATA"

    theirs = bytes(
        mavlink2.MAVLink_statustext_message(4, b"hello").pack(_mav(key, sysid=1, link_id=0))
    )
    verifier = LinkVerifier(key)
    (frame,) = FrameSplitter(stream=False).feed(theirs)
    assert verifier.accept(frame)
    assert not verifier.accept(frame)  # the same frame again is a replay
    assert verifier.rejected_replay == 1


async def test_signed_controller_flies_a_signing_simulator(sim_fleet: Any) -> None:
    key = secrets.token_bytes(32)
    async with sim_fleet(count=1, speedup=FLY_SPEEDUP, signing_key=key) as sim:
        signing = sim.fleet.signing[0]
        async with _controller(sim, key, FLY_SPEEDUP) as (fleet, session):
            plan = patrol(session, north_m=20.0, east_m=15.0)
            fleet.start_sortie("v1", plan)
            result = await fleet.sortie_result("v1")
            assert result.outcome is SortieOutcome.COMPLETED, result.reason
            stats = session.signing_stats
            assert stats is not None
            assert stats.accepted_signed > 100
            assert stats.rejected == 0
        # the vehicle obeyed only signed frames and dropped none of ours
        assert signing.rejected_bad_signature == 0
        assert signing.rejected_unsigned == 0


async def test_unsigned_or_wrongly_signed_commands_are_ignored(sim_fleet: Any) -> None:
    key = secrets.token_bytes(32)
    async with sim_fleet(count=1, speedup=SPEEDUP, signing_key=key) as sim:
        vehicle = sim.fleet.vehicles[0]
        signing = sim.fleet.signing[0]
        port = sim.gcs_local_port(0)
        good = _mav(key)
        rx = mavlink2.MAVLink(_Sink())
        rx.robust_parsing = True
        rx.signing.secret_key = key  # what the vehicle sends must verify with its key
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)

            def send(frame: bytes) -> None:
                sock.sendto(frame, ("127.0.0.1", port))

            # a signed heartbeat: this socket becomes the GCS link's peer
            send(bytes(mavlink2.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3).pack(good)))
            arm = mavlink2.MAVLink_command_long_message(
                sim.system_id(0), 1, _ARM, 0, 1, 0, 0, 0, 0, 0, 0
            )
            send(bytes(arm.pack(_mav(None))))  # unsigned
            send(bytes(arm.pack(_mav(secrets.token_bytes(32)))))  # signed with another key
            tampered = bytearray(arm.pack(_mav(key, link_id=4)))
            tampered[-1] ^= 0xFF  # right key, broken signature
            send(bytes(tampered))
            # then a signed command: its ack comes after any ack for the ones before it
            send(
                bytes(
                    mavlink2.MAVLink_command_long_message(
                        sim.system_id(0), 1, _REQUEST_MESSAGE, 0, 148, 0, 0, 0, 0, 0, 0
                    ).pack(good)
                )
            )
            acks: list[int] = []
            async with asyncio.timeout(20):
                while _REQUEST_MESSAGE not in acks:
                    data = await loop.sock_recv(sock, 4096)
                    for msg in rx.parse_buffer(data) or ():
                        if msg.get_type() == "COMMAND_ACK":
                            acks.append(msg.command)
                        assert msg.get_signed(), msg
        assert _ARM not in acks
        assert not vehicle.armed
        assert signing.rejected_unsigned >= 1
        assert signing.rejected_bad_signature >= 2


def _statustext(key: bytes | None, text: bytes, *, sysid: int, link_id: int) -> bytes:
    mav = _mav(key, sysid=sysid, link_id=link_id)
    mav.srcComponent = 1
    return bytes(mavlink2.MAVLink_statustext_message(2, text).pack(mav))


async def test_controller_drops_and_counts_forged_and_replayed_frames(sim_fleet: Any) -> None:
    key = secrets.token_bytes(32)
    async with (
        sim_fleet(count=1, speedup=SPEEDUP, signing_key=key) as sim,
        _controller(sim, key) as (_fleet, session),
    ):
        sysid = sim.system_id(0)
        fresh = _statustext(key, b"genuine text", sysid=sysid, link_id=9)
        old = _mav(key, sysid=sysid, link_id=10)
        old.srcComponent = 1
        old.signing.timestamp = signing_timestamp() - 10 * 60 * 100_000  # 10 minutes ago
        stale = bytes(mavlink2.MAVLink_statustext_message(2, b"stale text").pack(old))
        frames = [
            _statustext(None, b"unsigned text", sysid=sysid, link_id=0),
            _statustext(secrets.token_bytes(32), b"forged text", sysid=sysid, link_id=0),
            fresh,
            fresh,  # replayed
            stale,  # a new stream starting in the past
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for frame in frames:
                sock.sendto(frame, ("127.0.0.1", sim.api_port(0)))
            await session.wait_for(
                lambda st: any(t.text == "genuine text" for t in session.statustexts),
                timeout_s=20,
            )

            def counted() -> bool:
                s = session.signing_stats
                return s is not None and s.rejected_replay >= 2

            await session.wait_for(lambda st: counted(), timeout_s=20)
        stats = session.signing_stats
        assert stats is not None
        assert stats.rejected_unsigned == 1
        assert stats.rejected_bad_signature == 1
        assert stats.rejected_replay == 2
        texts = [t.text for t in session.statustexts]
        assert texts.count("genuine text") == 1
        assert not {"unsigned text", "forged text", "stale text"} & set(texts)


def test_key_store_files_are_private(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    key = keys.generate("v1")
    path = keys.path("v1")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert keys.load("v1") == key
    assert [i.fingerprint for i in keys.list()] == [fingerprint(key)]
    with pytest.raises(SigningKeyError, match="already has a key"):
        keys.generate("v1")
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match=r"readable by others \(mode 0644\).*chmod 600"):
        keys.load("v1")
    path.chmod(0o600)
    path.write_text("not a key\n")
    with pytest.raises(SigningKeyError, match="not 64 hex digits"):
        keys.load("v1")
    with pytest.raises(SigningKeyError, match="cannot name a key file"):
        keys.path("../etc/passwd")


async def test_rotation_switches_the_vehicle_and_the_old_key_then_fails(
    sim_fleet: Any, tmp_path: Path
) -> None:
    keys = KeyStore(tmp_path / "keys")
    old_key = keys.generate("v1")
    async with sim_fleet(count=1, speedup=SPEEDUP, signing_key=old_key) as sim:
        signing = sim.fleet.signing[0]
        audit = MemoryAuditLog()
        address = parse_address(f"udpin://127.0.0.1:{sim.api_port(0)}")
        old_fp, new_fp = await rotate_key(keys, "v1", address, audit=audit, actor="sup:1")
        new_key = keys.load("v1")
        assert signing.key == new_key != old_key
        assert (old_fp, new_fp) == (fingerprint(old_key), fingerprint(new_key))
        assert not list(keys.directory.glob("*.new"))
        actions = [e.action for e in audit.entries]
        assert actions == ["key.rotate_requested", "key.rotated"]
        for entry in audit.entries:  # fingerprints only, never the key
            text = repr(dict(entry.payload))
            assert old_key.hex() not in text
            assert new_key.hex() not in text
            assert entry.target == "vehicle:v1"
            assert entry.actor == "sup:1"

        # the old key: the vehicle's frames fail its check, its commands are ignored
        cfg = ControllerConfig().scaled(SPEEDUP)
        async with Fleet(audit=MemoryAuditLog(), config=cfg) as fleet:
            stale = await fleet.add_vehicle(
                "v1", f"udpin://127.0.0.1:{sim.api_port(0)}", signing_key=old_key, wait=False
            )

            def rejecting() -> bool:
                s = stale.signing_stats
                return s is not None and s.rejected_bad_signature >= 20

            await stale.wait_for(lambda st: rejecting(), timeout_s=20)
            assert stale.system_id is None  # never saw a heartbeat it could trust
            before = signing.rejected_bad_signature
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                arm = mavlink2.MAVLink_command_long_message(
                    sim.system_id(0), 1, _ARM, 0, 1, 0, 0, 0, 0, 0, 0
                )
                sock.sendto(bytes(arm.pack(_mav(old_key))), ("127.0.0.1", sim.api_local_port(0)))
                await sim.wait_until(lambda: signing.rejected_bad_signature > before, 20)
            assert not sim.fleet.vehicles[0].armed

        # the new key works
        async with _controller(sim, new_key) as (_fleet, session):
            stats = session.signing_stats
            assert stats is not None
            assert stats.accepted_signed > 0


def test_sim_signs_with_a_timestamp_that_only_moves_forward() -> None:
    from sitl.signing import SimSigning

    s = SimSigning(sysid=1, key=secrets.token_bytes(32))
    stamps = [
        struct.unpack("<Q", s.signature(b"\xfd" * 12, 0)[1:7] + b"\0\0")[0] for _ in range(50)
    ]
    assert stamps == sorted(set(stamps))


def test_keys_cli_generates_lists_audits_and_sim_refuses_an_open_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from drone_ops.cli import main

    key_dir = tmp_path / "keys"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = ["--key-dir", str(key_dir)]
    assert main(["keys", "generate", "v1", *args, "--store", store, "--actor", "sup:7"]) == 0
    key = KeyStore(key_dir).load("v1")
    assert fingerprint(key) in capsys.readouterr().out
    assert main(["keys", "generate", "v1", *args, "--store", store]) == 2
    assert "already has a key" in capsys.readouterr().err

    assert main(["keys", "list", *args]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("v1 ")
    assert fingerprint(key) in listed

    assert main(["audit", "show", "--store", store]) == 0
    shown = capsys.readouterr().out
    assert '"action": "key.generated"' in shown
    assert '"actor": "sup:7"' in shown
    assert fingerprint(key) in shown
    assert key.hex() not in shown

    path = key_dir / "v1.key"
    path.chmod(0o644)
    assert main(["sim", "--signing-key", str(path)]) == 2
    err = capsys.readouterr().err
    assert "readable by others" in err
    assert len(err.strip().splitlines()) == 1


def test_sim_options_give_the_vehicles_their_keys(tmp_path: Path) -> None:
    from drone_ops.cli import build_parser
    from drone_ops.cli.sim import _config

    keys = KeyStore(tmp_path)
    k1, k3 = keys.generate("v1"), keys.generate("v3")
    words = ["sim", "--count", "3", "--key-dir", str(tmp_path)]
    cfg = _config(build_parser(words).parse_args(words))
    assert [cfg.vehicle_signing_key(i) for i in range(3)] == [k1, None, k3]
    words = ["sim", "--count", "2", "--signing-key", str(keys.path("v3"))]
    cfg = _config(build_parser(words).parse_args(words))
    assert [cfg.vehicle_signing_key(i) for i in range(2)] == [k3, k3]


async def test_serve_sim_vehicles_sign_with_their_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drone_ops.cli.serve import _simulated

    monkeypatch.setenv("DRONE_OPS_KEY_DIR", str(tmp_path))  # what serve --key-dir sets
    key = KeyStore().generate("sim1")
    async with _simulated(1, SPEEDUP, video=False) as sim:
        cfg = ControllerConfig().scaled(SPEEDUP)
        async with Fleet(audit=MemoryAuditLog(), config=cfg) as fleet:
            link = sim.vehicles[0]
            session = await fleet.add_vehicle(
                link.vehicle_id, link.connect, signing_key=KeyStore().load_optional("sim1")
            )
            stats = session.signing_stats
            assert stats is not None
            assert stats.accepted_signed > 0
            assert stats.rejected == 0
            assert session.system_id == 1
    assert key == KeyStore().load("sim1")
