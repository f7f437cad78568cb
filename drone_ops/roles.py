"""Who may do what: operator, supervisor and auditor, checked in one place.

`authorize(principal, action)` is the single check. The controller API
(`Fleet`), the incident book (`Incidents`) and the schedule book
(`ScheduleBook`) call it when they were given a `Principal`, so the CLI, the
TUI and `serve` get the same answer. Code that acts on its own behalf (incident
rules, the scheduler) is built without a principal and is not checked: it is
not a person.

Where a person's role comes from (`resolve_principal`): a users file mapping
actor → role (``$DRONE_OPS_USERS``, else ``~/.config/drone-ops/users.toml``)::

    [users]
    "op:alice" = "operator"
    "op:bob" = "supervisor"
    "op:carol" = "auditor"

When that file exists it is the authority: an actor it does not list is
refused, and ``--role`` may not claim another role than the file gives. With
no users file, ``--role`` / ``$DRONE_OPS_ROLE`` names the role, and with
neither the installation is single-user and its user is a supervisor.
"""

from __future__ import annotations

import enum
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from drone_ops.audit import AuditLog
from drone_ops.errors import DroneOpsError

__all__ = [
    "PERMISSIONS",
    "Action",
    "PermissionDenied",
    "Principal",
    "Role",
    "RoleConfigError",
    "allowed",
    "authorize",
    "check",
    "default_users_file",
    "load_users",
    "parse_role",
    "record_refusal",
    "resolve_principal",
]


class Role(enum.Enum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


class Action(enum.Enum):
    """What a person may be allowed to do; the value is how messages name it."""

    FLY = "fly a sortie"
    COMMAND = "command a vehicle"
    RAISE_INCIDENT = "raise or mark an incident"
    ACKNOWLEDGE_INCIDENT = "acknowledge an incident"
    NOTE_INCIDENT = "add a note to an incident"
    ADD_EVIDENCE = "add evidence to an incident"
    RESOLVE_INCIDENT = "resolve an incident"
    DISMISS_INCIDENT = "dismiss an incident"
    MANAGE_SCHEDULES = "manage schedules"
    MANAGE_KEYS = "manage signing keys"
    READ = "read the record"
    VERIFY = "verify the audit chain"


_READ_ONLY: Final = frozenset({Action.READ, Action.VERIFY})
_OPERATOR: Final = _READ_ONLY | {
    Action.FLY,
    Action.COMMAND,
    Action.RAISE_INCIDENT,
    Action.ACKNOWLEDGE_INCIDENT,
    Action.NOTE_INCIDENT,
    Action.ADD_EVIDENCE,
}
_SUPERVISOR: Final = _OPERATOR | {
    Action.RESOLVE_INCIDENT,
    Action.DISMISS_INCIDENT,
    Action.MANAGE_SCHEDULES,
    Action.MANAGE_KEYS,
}
PERMISSIONS: Final[Mapping[Role, frozenset[Action]]] = {
    Role.OPERATOR: _OPERATOR,
    Role.SUPERVISOR: _SUPERVISOR,
    Role.AUDITOR: _READ_ONLY,
}


class RoleConfigError(DroneOpsError):
    """The role or the users file cannot be used."""


class PermissionDenied(DroneOpsError):
    """The principal's role does not allow the action."""

    def __init__(self, principal: Principal, action: Action) -> None:
        self.principal = principal
        self.action = action
        who = next(r.value for r in Role if action in PERMISSIONS[r])
        super().__init__(
            f"{principal.actor} is {_article(principal.role)} {principal.role.value}, and "
            f"{principal.role.value}s may not {action.value}; ask {_article_for(who)} {who}"
        )


def _article(role: Role) -> str:
    return _article_for(role.value)


def _article_for(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """A person acting with a role."""

    actor: str
    role: Role

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise RoleConfigError("the actor name is empty; give --actor NAME")

    @property
    def audit_actor(self) -> str:
        """How the audit chain names them: the role travels with every entry."""
        return f"{self.actor} ({self.role.value})"


def allowed(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]


def authorize(principal: Principal, action: Action) -> None:
    """Raise `PermissionDenied` unless the principal's role allows the action."""
    if not allowed(principal.role, action):
        raise PermissionDenied(principal, action)


async def check(
    principal: Principal | None, action: Action, *, audit: AuditLog, target: str
) -> None:
    """`authorize`, and write a refusal to the audit chain before raising it.

    A refused attempt changes nothing else, but it is part of the record: who
    tried what, with which role. `None` (the system acting on its own) passes.
    """
    if principal is None:
        return
    try:
        authorize(principal, action)
    except PermissionDenied:
        await record_refusal(principal, action, audit=audit, target=target)
        raise


async def record_refusal(
    principal: Principal, action: Action, *, audit: AuditLog, target: str
) -> None:
    """Write a ``permission.refused`` entry: the attempt is part of the record."""
    await audit.append(
        actor=principal.audit_actor,
        action="permission.refused",
        target=target,
        payload={"role": principal.role.value, "action": action.name.lower()},
    )


def parse_role(name: str) -> Role:
    try:
        return Role(name.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise RoleConfigError(f"unknown role {name!r}; use one of: {choices}") from None


def default_users_file() -> Path:
    env = os.environ.get("DRONE_OPS_USERS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "drone-ops" / "users.toml"


def load_users(path: Path) -> dict[str, Role]:
    """Read ``[users]`` actor = role; a bad file is one clear error naming it."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise RoleConfigError(f"cannot read the users file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RoleConfigError(f"the users file {path} is not valid TOML: {exc}") from exc
    users = data.get("users")
    if not isinstance(users, dict):
        raise RoleConfigError(
            f'the users file {path} has no [users] table; add lines like "op:alice" = "operator"'
        )
    out: dict[str, Role] = {}
    for actor, role in users.items():
        if not isinstance(role, str):
            raise RoleConfigError(f"the users file {path}: the role of {actor!r} must be a string")
        try:
            out[actor] = parse_role(role)
        except RoleConfigError as exc:
            raise RoleConfigError(f"the users file {path}: {actor!r}: {exc}") from None
    return out


def resolve_principal(
    actor: str, role: str | None = None, *, users_file: Path | None = None
) -> Principal:
    """The principal for a command: users file first, then the role asked for.

    `role` is ``--role`` (or ``$DRONE_OPS_ROLE``); `users_file` defaults to
    `default_users_file()`.
    """
    path = users_file if users_file is not None else default_users_file()
    asked = parse_role(role) if role else None
    if path.is_file():
        users = load_users(path)
        granted = users.get(actor)
        if granted is None:
            raise RoleConfigError(
                f"{actor} is not in the users file {path}; ask a supervisor to add them"
            )
        if asked is not None and asked is not granted:
            raise RoleConfigError(
                f"{actor} is {_article(granted)} {granted.value} in {path}, "
                f"not {_article(asked)} {asked.value}; drop --role or ask a supervisor"
            )
        return Principal(actor=actor, role=granted)
    return Principal(actor=actor, role=asked or Role.SUPERVISOR)
