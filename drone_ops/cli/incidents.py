"""`drone-ops incidents list|show|ack|resolve|dismiss|note|mark|evidence|export`.

Every change is written with an audit entry naming `--actor`. Export writes a
bundle an investigator can check with `sha256sum -c SHA256SUMS`.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drone_ops.cli._common import (
    DEFAULT_STORE_URL,
    Subparsers,
    add_role_arg,
    principal,
    run_async,
)

if TYPE_CHECKING:  # the store (SQLAlchemy) loads when a command runs
    from drone_ops.store import StoreConfig

__all__ = ["add_store_args", "default_actor", "register", "store_config"]


def default_actor() -> str:
    try:
        return f"op:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "op:unknown"


def add_store_args(p: argparse.ArgumentParser, *, actor: bool = True) -> None:
    p.add_argument(
        "--store",
        default=DEFAULT_STORE_URL,
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://HOST/DB (default {DEFAULT_STORE_URL})",
    )
    p.add_argument(
        "--evidence-dir",
        type=Path,
        metavar="DIR",
        help="evidence files (default: evidence/ beside the SQLite file, ./var/evidence)",
    )
    if actor:
        p.add_argument(
            "--actor",
            default=default_actor(),
            metavar="NAME",
            help="who is making the change, for the audit chain (default op:$USER)",
        )
        add_role_arg(p)


def store_config(args: argparse.Namespace) -> StoreConfig:
    """The store named by --store; a SQLite file must already exist (we don't invent one)."""
    from drone_ops.store import StoreConfig, StoreConfigError

    config = StoreConfig(url=args.store, evidence_dir=args.evidence_dir)
    path = config.sqlite_path
    if path is not None and not path.is_file():
        raise StoreConfigError(
            f"no store at {path}: check --store (the controller creates it on its first run)"
        )
    return config


def _time_us(text: str) -> int:
    """ISO 8601 (`2026-01-01T10:00`, `2026-01-01T10:00:00+01:00`; UTC if no zone) → µs."""
    from drone_ops.store import StoreConfigError

    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise StoreConfigError(
            f"time {text!r} is not ISO 8601: use e.g. 2026-01-01T10:00:00Z"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000)


def _bbox(text: str) -> tuple[float, float, float, float]:
    from drone_ops.store import StoreConfigError

    try:
        a, b, c, d = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise StoreConfigError(
            f"bbox {text!r} is not MIN_LON,MIN_LAT,MAX_LON,MAX_LAT (four numbers)"
        ) from exc
    return a, b, c, d


def _polygon(path: Path) -> list[tuple[float, float]]:
    """The first Polygon in a GeoJSON file (geometry, Feature or FeatureCollection)."""
    from drone_ops.store import StoreConfigError

    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreConfigError(f"cannot read GeoJSON area {path}: {exc}") from exc
    while isinstance(doc, dict):
        if doc.get("type") == "FeatureCollection" and doc.get("features"):
            doc = doc["features"][0]
        elif doc.get("type") == "Feature":
            doc = doc.get("geometry")
        elif doc.get("type") == "Polygon":
            return [(float(x[0]), float(x[1])) for x in doc["coordinates"][0]]
        else:
            break
    raise StoreConfigError(f"{path} holds no GeoJSON Polygon to search within")


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("incidents", help="list, show, acknowledge, resolve, export incidents")
    gsub = group.add_subparsers(dest="incidents_command", metavar="ACTION", required=True)

    ls = gsub.add_parser("list", help="incidents, newest first")
    ls.add_argument(
        "--status",
        action="append",
        choices=["open", "acknowledged", "resolved", "dismissed"],
        help="only these statuses (repeat)",
    )
    ls.add_argument("--vehicle", help="only this vehicle")
    ls.add_argument("--kind", help="only this kind, e.g. geofence_breach")
    ls.add_argument("--since", metavar="TIME", help="ISO 8601, UTC if no zone")
    ls.add_argument("--until", metavar="TIME", help="ISO 8601, UTC if no zone")
    ls.add_argument("--bbox", metavar="MINLON,MINLAT,MAXLON,MAXLAT", help="only inside this box")
    ls.add_argument("--within", type=Path, metavar="GEOJSON", help="only inside this polygon")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    add_store_args(ls, actor=False)
    ls.set_defaults(handler=_list)

    show = gsub.add_parser("show", help="one incident with notes, evidence and audit trail")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    add_store_args(show, actor=False)
    show.set_defaults(handler=_show)

    for action, helptext in (
        ("ack", "acknowledge an open incident"),
        ("resolve", "resolve an acknowledged incident"),
        ("dismiss", "dismiss an open or acknowledged incident (false alarm)"),
    ):
        p = gsub.add_parser(action, help=helptext)
        p.add_argument("id", type=int)
        p.add_argument("--note", help="why, recorded with the change")
        add_store_args(p)
        p.set_defaults(handler=_move, action=action)

    note = gsub.add_parser("note", help="add a note to an incident")
    note.add_argument("id", type=int)
    note.add_argument("text")
    add_store_args(note)
    note.set_defaults(handler=_note)

    mark = gsub.add_parser("mark", help="raise an incident at a vehicle's last known position")
    mark.add_argument("vehicle")
    mark.add_argument("text", help="what the operator saw")
    mark.add_argument("--severity", choices=["info", "warning", "critical"], default="info")
    add_store_args(mark)
    mark.set_defaults(handler=_mark)

    ev = gsub.add_parser("evidence", help="attach evidence: telemetry window, tlog slice, a file")
    ev.add_argument("id", type=int)
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--telemetry", action="store_true", help="telemetry window (CSV, GeoJSON)")
    what.add_argument(
        "--tlog",
        nargs="?",
        const="",
        metavar="FILE",
        help="tlog slice (default: the sortie's tlog)",
    )
    what.add_argument("--file", type=Path, metavar="PATH", help="any file (clip, snapshot)")
    ev.add_argument("--kind", default="file", help="evidence kind for --file (video, snapshot)")
    ev.add_argument("--before", type=float, default=30.0, metavar="S", help="seconds before")
    ev.add_argument("--after", type=float, default=30.0, metavar="S", help="seconds after")
    add_store_args(ev)
    ev.set_defaults(handler=_evidence)

    export = gsub.add_parser("export", help="write a self-contained, verifiable bundle")
    export.add_argument("id", type=int)
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_store_args(export, actor=False)
    export.set_defaults(handler=_export)


def _line(i: Any) -> str:
    when = datetime.fromtimestamp(i.time_unix_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S")
    where = "-" if i.lat_deg is None else f"{i.lat_deg:.5f},{i.lon_deg:.5f}"
    return (
        f"{i.incident_id:>5}  {when}Z  {i.status.value:<12} {i.severity.value:<8} "
        f"{i.kind:<16} {i.vehicle_id or '-':<8} {where:<20} {i.summary}"
    )


def _list(args: argparse.Namespace) -> int:
    from drone_ops.incidents import Incidents, IncidentStatus
    from drone_ops.store import open_store

    query: dict[str, Any] = {
        "since_us": None if args.since is None else _time_us(args.since),
        "until_us": None if args.until is None else _time_us(args.until),
        "vehicle_id": args.vehicle,
        "kind": args.kind,
        "status": None if not args.status else [IncidentStatus(s) for s in args.status],
        "bbox": None if args.bbox is None else _bbox(args.bbox),
        "polygon": None if args.within is None else _polygon(args.within),
        "limit": args.limit,
    }

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            found = await Incidents(store).query(**query)
        if args.json:
            for i in found:
                print(json.dumps(i.to_json(), ensure_ascii=False))
        elif not found:
            print("no incidents match")
        else:
            print(
                f"{'ID':>5}  {'TIME (UTC)':<20} {'STATUS':<12} {'SEVERITY':<8} "
                f"{'KIND':<16} {'VEHICLE':<8} {'POSITION':<20} SUMMARY"
            )
            for i in found:
                print(_line(i))
        return 0

    return run_async(main)


def _show(args: argparse.Namespace) -> int:
    from drone_ops.incidents import Incidents
    from drone_ops.store import open_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            book = Incidents(store)
            incident = await book.get(args.id)
            trail = await book.audit_trail(args.id)
        doc = incident.to_json()
        doc["audit"] = trail
        if args.json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return 0
        print(_line(incident))
        if incident.sortie_id is not None:
            print(f"  sortie {incident.sortie_id}")
        for n in doc["notes"]:
            print(f"  note  {n['time_utc']}  {n['actor']}: {n['text']}")
        for e in doc["evidence"]:
            print(f"  evidence {e['evidence_id']}  {e['kind']:<18} {e['sha256']}  {e['path']}")
        for a in trail:
            print(f"  audit {a['seq']:>6}  {a['time_utc']}  {a['actor']:<14} {a['action']}")
        return 0

    return run_async(main)


def _move(args: argparse.Namespace) -> int:
    from drone_ops.incidents import Incidents
    from drone_ops.store import open_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            book = Incidents(store, principal=principal(args))
            op = {"ack": book.acknowledge, "resolve": book.resolve, "dismiss": book.dismiss}
            incident = await op[args.action](args.id, actor=args.actor, note=args.note)
        print(f"incident {incident.incident_id} is now {incident.status.value}")
        return 0

    return run_async(main)


def _note(args: argparse.Namespace) -> int:
    from drone_ops.incidents import Incidents
    from drone_ops.store import open_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            incident = await Incidents(store, principal=principal(args)).add_note(
                args.id, args.text, actor=args.actor
            )
        print(f"incident {incident.incident_id}: note added ({len(incident.notes)} notes)")
        return 0

    return run_async(main)


def _mark(args: argparse.Namespace) -> int:
    from drone_ops.incidents import Incidents, Severity
    from drone_ops.store import open_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            incident = await Incidents(store, principal=principal(args)).mark(
                vehicle_id=args.vehicle,
                note=args.text,
                actor=args.actor,
                severity=Severity(args.severity),
            )
        print(f"incident {incident.incident_id} raised: {_line(incident).strip()}")
        return 0

    return run_async(main)


def _evidence(args: argparse.Namespace) -> int:
    from drone_ops.incidents import EvidenceLocker
    from drone_ops.roles import Action, check
    from drone_ops.store import open_store

    who = principal(args)
    args.actor = who.audit_actor

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            await check(who, Action.ADD_EVIDENCE, audit=store.audit, target=f"incident:{args.id}")
            locker = EvidenceLocker(store)
            if args.telemetry:
                records = await locker.capture_telemetry_window(
                    args.id, actor=args.actor, before_s=args.before, after_s=args.after
                )
            elif args.tlog is not None:
                records = [
                    await locker.capture_tlog_slice(
                        args.id,
                        actor=args.actor,
                        tlog_path=Path(args.tlog) if args.tlog else None,
                        before_s=args.before,
                        after_s=args.after,
                    )
                ]
            else:
                records = [
                    await locker.add_file(args.id, args.file, kind=args.kind, actor=args.actor)
                ]
        for r in records:
            print(f"evidence {r.evidence_id}: {r.kind} {r.sha256} {r.size_bytes} B {r.path}")
        return 0

    return run_async(main)


def _export(args: argparse.Namespace) -> int:
    from drone_ops.incidents import export_bundle
    from drone_ops.store import open_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            bundle = await export_bundle(store, args.id, args.out)
        print(f"exported incident {args.id} to {bundle}")
        print(f"verify it with: cd {bundle} && sha256sum -c SHA256SUMS")
        return 0

    return run_async(main)
