"""Roles: operator, supervisor and auditor, through the API and the CLI, on a real SQLite store.

A refused action changes nothing and leaves a ``permission.refused`` entry in the
audit chain (which still verifies); an allowed one is recorded under
``actor (role)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drone_ops.audit import MemoryAuditLog
from drone_ops.cli import main
from drone_ops.commands import Command
from drone_ops.fleet import Fleet, FleetError
from drone_ops.incidents import IncidentDraft, Incidents, IncidentStatus, Severity
from drone_ops.roles import (
    PERMISSIONS,
    Action,
    PermissionDenied,
    Principal,
    Role,
    RoleConfigError,
    allowed,
    resolve_principal,
)
from drone_ops.store import Store, StoreConfig, open_store
from drone_ops.store.verify import verify_store
from missions.generators import route
from missions.plan import GeoPoint, Home

T0_US = 1_767_225_600_000_000

OPERATOR = Principal(actor="op:alice", role=Role.OPERATOR)
SUPERVISOR = Principal(actor="op:bob", role=Role.SUPERVISOR)
AUDITOR = Principal(actor="op:carol", role=Role.AUDITOR)


def draft() -> IncidentDraft:
    return IncidentDraft(
        kind="mark",
        severity=Severity.WARNING,
        time_unix_us=T0_US,
        summary="person on roof",
        vehicle_id="v1",
        lat_deg=52.0,
        lon_deg=4.0,
    )


@pytest.fixture(autouse=True)
def no_users_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer's own users file or role leaks into a test."""
    monkeypatch.setenv("DRONE_OPS_USERS", str(tmp_path / "no-users.toml"))
    monkeypatch.delenv("DRONE_OPS_ROLE", raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ops.db'}"


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(StoreConfig(url=db_url, evidence_dir=tmp_path / "evidence")) as s:
        yield s


# ------------------------------------------------------------------ the table


def test_the_permission_table() -> None:
    assert PERMISSIONS[Role.AUDITOR] == {Action.READ, Action.VERIFY}
    for action in (Action.FLY, Action.COMMAND, Action.RAISE_INCIDENT, Action.NOTE_INCIDENT):
        assert allowed(Role.OPERATOR, action)
        assert not allowed(Role.AUDITOR, action)
    for action in (
        Action.RESOLVE_INCIDENT,
        Action.DISMISS_INCIDENT,
        Action.MANAGE_SCHEDULES,
        Action.MANAGE_KEYS,
    ):
        assert allowed(Role.SUPERVISOR, action)
        assert not allowed(Role.OPERATOR, action)
    assert PERMISSIONS[Role.OPERATOR] < PERMISSIONS[Role.SUPERVISOR]  # strictly more
    assert set(Action) == PERMISSIONS[Role.SUPERVISOR]


def test_refusal_message_names_actor_role_action_and_who_may() -> None:
    msg = str(PermissionDenied(OPERATOR, Action.RESOLVE_INCIDENT))
    assert msg == (
        "op:alice is an operator, and operators may not resolve an incident; ask a supervisor"
    )
    assert "\n" not in msg
    assert str(PermissionDenied(AUDITOR, Action.FLY)).endswith("ask an operator")


# ------------------------------------------------------------------ where the role comes from


def test_users_file_is_the_authority(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    users.write_text('[users]\n"op:alice" = "operator"\n"op:carol" = "Auditor"\n')
    assert resolve_principal("op:alice", users_file=users) == OPERATOR
    assert resolve_principal("op:carol", None, users_file=users).role is Role.AUDITOR
    assert resolve_principal("op:alice", "operator", users_file=users) == OPERATOR
    with pytest.raises(RoleConfigError, match=r"op:alice is an operator in .*not a supervisor"):
        resolve_principal("op:alice", "supervisor", users_file=users)
    with pytest.raises(RoleConfigError, match="op:mallory is not in the users file"):
        resolve_principal("op:mallory", "supervisor", users_file=users)


def test_without_a_users_file_the_role_is_asked_for_or_single_user(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    assert resolve_principal("op:x", "auditor", users_file=missing).role is Role.AUDITOR
    assert resolve_principal("op:x", None, users_file=missing).role is Role.SUPERVISOR
    with pytest.raises(RoleConfigError, match="unknown role 'pilot'; use one of"):
        resolve_principal("op:x", "pilot", users_file=missing)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("users = [", "is not valid TOML"),
        ('[people]\n"a" = "operator"\n', "has no [users] table"),
        ('[users]\n"a" = 3\n', "the role of 'a' must be a string"),
        ('[users]\n"a" = "boss"\n', "'a': unknown role 'boss'"),
    ],
)
def test_a_bad_users_file_is_one_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    users = tmp_path / "users.toml"
    users.write_text(text)
    with pytest.raises(RoleConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        resolve_principal("a", users_file=users)


# ------------------------------------------------------------------ API: incident book


async def _refusals(store: Store) -> list[tuple[str, str, object]]:
    return [
        (e.actor, e.target, e.payload["action"])
        for e in await store.audit.entries()
        if e.action == "permission.refused"
    ]


async def test_operator_raises_acknowledges_and_notes_but_may_not_resolve(store: Store) -> None:
    book = Incidents(store, principal=OPERATOR)
    raised = await book.raise_incident(draft(), actor="ignored")
    assert raised.raised_by == "op:alice (operator)"
    await book.acknowledge(raised.incident_id, actor="ignored")
    await book.add_note(raised.incident_id, "on scene", actor="ignored")
    entries_before = len(await store.audit.entries())
    with pytest.raises(PermissionDenied, match="operators may not resolve an incident"):
        await book.resolve(raised.incident_id, actor="ignored", note="done")
    with pytest.raises(PermissionDenied, match="operators may not dismiss an incident"):
        await book.dismiss(raised.incident_id, actor="ignored")

    after = await Incidents(store).get(raised.incident_id)
    assert after.status is IncidentStatus.ACKNOWLEDGED, "a refusal changes nothing"
    assert [n.text for n in after.notes] == ["on scene"], "the refused note was not written"
    entries = await store.audit.entries()
    assert len(entries) == entries_before + 2
    assert await _refusals(store) == [
        ("op:alice (operator)", f"incident:{raised.incident_id}", "resolve_incident"),
        ("op:alice (operator)", f"incident:{raised.incident_id}", "dismiss_incident"),
    ]
    changes = [e for e in entries if e.action.startswith("incident.")]
    assert {e.actor for e in changes} == {"op:alice (operator)"}, "the role travels with entries"
    assert (await verify_store(store)).ok


async def test_supervisor_resolves_and_auditor_changes_nothing(store: Store) -> None:
    raised = await Incidents(store, principal=OPERATOR).raise_incident(draft(), actor="x")
    auditor = Incidents(store, principal=AUDITOR)
    with pytest.raises(PermissionDenied, match="auditors may not raise or mark an incident"):
        await auditor.raise_incident(draft(), actor="x")
    with pytest.raises(PermissionDenied, match="auditors may not add a note"):
        await auditor.add_note(raised.incident_id, "hmm", actor="x")
    with pytest.raises(PermissionDenied, match="auditors may not acknowledge"):
        await auditor.acknowledge(raised.incident_id, actor="x")
    assert [i.incident_id for i in await auditor.query()] == [raised.incident_id], "reads work"

    supervisor = Incidents(store, principal=SUPERVISOR)
    await supervisor.acknowledge(raised.incident_id, actor="x")
    resolved = await supervisor.resolve(raised.incident_id, actor="x", note="cleared")
    assert resolved.status is IncidentStatus.RESOLVED
    assert [a for _, _, a in await _refusals(store)] == [
        "raise_incident",
        "note_incident",
        "acknowledge_incident",
    ]
    trail = await Incidents(store).audit_trail(raised.incident_id)
    assert trail[-1]["actor"] == "op:bob (supervisor)"
    assert (await verify_store(store)).ok


async def test_rules_without_a_principal_are_not_checked(store: Store) -> None:
    raised = await Incidents(store).raise_incident(draft(), actor="rules")
    assert raised.raised_by == "rules"
    assert await _refusals(store) == []


# ------------------------------------------------------------------ API: fleet


async def test_fleet_refuses_an_auditor_before_anything_is_sent() -> None:
    audit = MemoryAuditLog()
    plan = route(
        [GeoPoint(lat_deg=47.3985, lon_deg=8.546)], home=Home(lat_deg=47.3977, lon_deg=8.5456)
    )
    async with Fleet(audit=audit, principal=AUDITOR) as fleet:
        with pytest.raises(PermissionDenied, match="auditors may not fly a sortie"):
            await fleet.fly("v1", plan)
        with pytest.raises(PermissionDenied, match="auditors may not command a vehicle"):
            await fleet.command("v1", Command.RTL)
        with pytest.raises(PermissionDenied, match="auditors may not fly a sortie"):
            fleet.start_sortie("v1", plan)
        assert fleet.sortie("v1") is None
        for allowed_principal in (OPERATOR, SUPERVISOR):  # the check passes: no such vehicle
            fleet.principal = allowed_principal
            with pytest.raises(FleetError, match="v1"):
                await fleet.command("v1", Command.RTL)
    # The synchronous start_sortie writes its refusal from a fleet task, done by exit.
    assert [(e.actor, e.action, e.target, e.payload["action"]) for e in audit.entries] == [
        ("op:carol (auditor)", "permission.refused", "vehicle:v1", "fly"),
        ("op:carol (auditor)", "permission.refused", "vehicle:v1", "command"),
        ("op:carol (auditor)", "permission.refused", "vehicle:v1", "fly"),
    ]


# ------------------------------------------------------------------ CLI


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _seed(db_url: str, tmp_path: Path) -> int:
    async with open_store(StoreConfig(url=db_url, evidence_dir=tmp_path / "evidence")) as s:
        return (await Incidents(s).raise_incident(draft(), actor="rules")).incident_id


async def _status_and_refusals(db_url: str, tmp_path: Path, iid: int) -> tuple[str, list[str]]:
    async with open_store(StoreConfig(url=db_url, evidence_dir=tmp_path / "evidence")) as s:
        inc = await Incidents(s).get(iid)
        return inc.status.value, [a for a, _, _ in await _refusals(s)]


def test_cli_refuses_in_one_line_and_records_the_attempt(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    iid = asyncio.run(_seed(db_url, tmp_path))
    store = ["--store", db_url]
    code, out, err = _run(
        capsys, "incidents", "resolve", str(iid), "--actor", "op:alice", "--role", "operator",
        *store,
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "drone-ops incidents: error: op:alice is an operator, and operators may not resolve "
        "an incident; ask a supervisor"
    ]
    assert asyncio.run(_status_and_refusals(db_url, tmp_path, iid)) == (
        "open",
        ["op:alice (operator)"],
    )

    code, out, _ = _run(
        capsys, "incidents", "ack", str(iid), "--actor", "op:alice", "--role", "operator", *store
    )
    assert (code, out.strip()) == (0, f"incident {iid} is now acknowledged")
    code, _, err = _run(
        capsys, "schedule", "add", "night", "--every", "2h", "--generator", "perimeter",
        "--actor", "op:alice", "--role", "operator", *store,
    )  # fmt: skip
    assert code == 2
    assert err.strip().endswith("operators may not manage schedules; ask a supervisor")
    code, out, _ = _run(capsys, "schedule", "list", *store)
    assert "night" not in out, "the refused schedule was not added"

    code, _, err = _run(
        capsys, "incidents", "evidence", str(iid), "--telemetry", "--actor", "op:carol",
        "--role", "auditor", *store,
    )  # fmt: skip
    assert code == 2
    assert "auditors may not add evidence to an incident; ask an operator" in err

    code, _, err = _run(capsys, "audit", "verify", "--store", db_url)
    assert code == 0, err


def test_cli_roles_from_the_users_file(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    users = tmp_path / "users.toml"
    users.write_text('[users]\n"op:bob" = "supervisor"\n"op:carol" = "auditor"\n')
    monkeypatch.setenv("DRONE_OPS_USERS", str(users))
    iid = asyncio.run(_seed(db_url, tmp_path))
    store = ["--store", db_url]

    code, _, err = _run(
        capsys, "incidents", "note", str(iid), "looks fine", "--actor", "op:carol", *store
    )
    assert code == 2
    assert "op:carol is an auditor, and auditors may not add a note" in err
    code, _, err = _run(
        capsys, "incidents", "resolve", str(iid), "--actor", "op:carol", "--role", "supervisor",
        *store,
    )  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1
    assert "op:carol is an auditor in" in err, "no self-promotion"
    code, _, err = _run(capsys, "incidents", "resolve", str(iid), "--actor", "op:eve", *store)
    assert code == 2
    assert "op:eve is not in the users file" in err

    code, out, _ = _run(capsys, "incidents", "ack", str(iid), "--actor", "op:bob", *store)
    assert code == 0
    code, out, _ = _run(capsys, "incidents", "resolve", str(iid), "--actor", "op:bob", *store)
    assert (code, out.strip()) == (0, f"incident {iid} is now resolved")
    code, out, _ = _run(
        capsys, "schedule", "add", "night", "--every", "2h", "--generator", "perimeter",
        "--actor", "op:bob", *store,
    )  # fmt: skip
    assert code == 0
    code, out, _ = _run(capsys, "schedule", "pause", "night", "--actor", "op:carol", *store)
    assert code == 2
    code, out, _ = _run(capsys, "audit", "show", "--store", db_url)
    assert "op:bob (supervisor)" in out
    status, refused = asyncio.run(_status_and_refusals(db_url, tmp_path, iid))
    assert status == "resolved"
    assert refused == ["op:carol (auditor)", "op:carol (auditor)"]  # note, pause


@pytest.mark.parametrize(
    "argv",
    [
        ["fly", "/no/such.plan", "--sim", "--actor", "op:carol"],
        ["dispatch", "47.3990,8.5460", "--sim", "1", "--actor", "op:carol"],
    ],
    ids=["fly", "dispatch"],
)
def test_cli_fly_and_dispatch_refuse_an_auditor_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRONE_OPS_ROLE", "auditor")
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""  # nothing connected, no simulator started
    assert err.splitlines() == [
        f"drone-ops {argv[0]}: error: op:carol is an auditor, and auditors may not fly a "
        "sortie; ask an operator"
    ]


def test_only_a_supervisor_manages_signing_keys(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    keys = ["--key-dir", str(tmp_path / "keys"), "--store", db_url, "--actor", "op:alice"]
    code, _, err = _run(capsys, "keys", "generate", "v1", *keys, "--role", "operator")
    assert code == 2
    assert err.splitlines() == [
        "drone-ops keys: error: op:alice is an operator, and operators may not manage "
        "signing keys; ask a supervisor"
    ]
    assert not (tmp_path / "keys" / "v1.key").exists(), "no key file was written"
    code, _, err = _run(capsys, "keys", "generate", "v1", *keys, "--role", "supervisor")
    assert code == 0, err
    assert (tmp_path / "keys" / "v1.key").exists()

    async def refusals() -> list[tuple[str, str, object]]:
        async with open_store(StoreConfig(url=db_url, evidence_dir=tmp_path / "ev")) as s:
            return await _refusals(s)

    assert asyncio.run(refusals()) == [("op:alice (operator)", "vehicle:v1", "manage_keys")]
