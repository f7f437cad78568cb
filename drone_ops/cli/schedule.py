"""`drone-ops schedule add|list|show|pause|resume|remove`: scheduled patrols in the store."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drone_ops.cli._common import DEFAULT_STORE_URL, Subparsers, add_role_arg, principal, run_async
from drone_ops.schedule import (
    ActiveWindow,
    MissedRunPolicy,
    PlanSource,
    Preconditions,
    RetryPolicy,
    Schedule,
    ScheduleError,
)

__all__ = ["parse_duration_s", "register"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_S = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_s(text: str) -> float:
    """`90`, `90s`, `30m`, `2h`, `1d` → seconds."""
    m = _DURATION.match(text)
    if m is None:
        raise ScheduleError(f"duration {text!r} is not a number with s, m, h or d (e.g. 30m)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ScheduleError(f"generator parameter {text!r} is not KEY=VALUE")
    value: Any = raw
    for conv in (int, float):
        try:
            value = conv(raw)
            break
        except ValueError:
            continue
    return key.strip(), value


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default=DEFAULT_STORE_URL,
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://HOST/DB (default {DEFAULT_STORE_URL})",
    )
    p.add_argument("--actor", default="operator", help="who is making the change (audit)")
    add_role_arg(p)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("schedule", help="scheduled patrols: add, list, pause, resume")
    gsub = group.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)

    add = gsub.add_parser("add", help="add a scheduled patrol")
    add.add_argument("name")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="5-field cron in --tz, e.g. '*/30 * * * *'")
    when.add_argument("--every", metavar="DURATION", help="fixed interval, e.g. 30m, 2h")
    add.add_argument("--tz", default="UTC", help="IANA time zone for cron and window")
    add.add_argument("--window", metavar="HH:MM-HH:MM", help="only start runs inside (22:00-06:00)")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--plan",
        metavar="FILE",
        help="plan file: .plan, .waypoints, or a .geojson/.kml line or area",
    )
    what.add_argument("--generator", metavar="KIND", help="missions generator, e.g. perimeter")
    add.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="generator parameter"
    )
    add.add_argument(
        "--vehicle", action="append", default=[], metavar="ID", help="vehicle (repeat for a pool)"
    )
    add.add_argument("--min-battery", type=float, default=80.0, metavar="PCT")
    add.add_argument("--anywhere", action="store_true", help="vehicle need not be docked at home")
    add.add_argument(
        "--missed", choices=[p.value for p in MissedRunPolicy], default=MissedRunPolicy.SKIP.value
    )
    add.add_argument("--retries", type=int, default=3, help="attempts when no vehicle is ready")
    add.add_argument("--retry-delay", default="2m", metavar="DURATION")
    add.add_argument("--paused", action="store_true", help="add it paused")
    _store_arg(add)
    add.set_defaults(handler=_add)

    ls = gsub.add_parser("list", help="schedules with their next run times")
    _store_arg(ls)
    ls.set_defaults(handler=_list)

    for action, helptext, handler in (
        ("show", "one schedule, its next runs and its recent runs", _show),
        ("pause", "stop starting runs (runs in the air continue)", _pause),
        ("resume", "start runs again from the next run time", _resume),
        ("remove", "retire a schedule (its run history stays)", _remove),
    ):
        p = gsub.add_parser(action, help=helptext)
        p.add_argument("name")
        _store_arg(p)
        p.set_defaults(handler=handler)


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(when: datetime | None, tz: str) -> str:
    if when is None:
        return "-"
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _build(args: argparse.Namespace) -> Schedule:
    if args.plan is not None:
        from drone_ops.scheduling.plans import check_plan_file

        check_plan_file(Path(args.plan))  # a bad file is refused now, not when the run is due
    if args.param and args.generator is None:
        raise ScheduleError("--param is for --generator; a plan file has its own parameters")
    return Schedule(
        name=args.name,
        plan=PlanSource(
            file=str(Path(args.plan).resolve()) if args.plan else None,
            generator=args.generator,
            params=dict(_param(p) for p in args.param),
        ),
        cron=args.cron,
        interval_s=parse_duration_s(args.every) if args.every else None,
        tz=args.tz,
        window=ActiveWindow.parse(args.window) if args.window else None,
        vehicles=tuple(args.vehicle),
        preconditions=Preconditions(
            min_battery_pct=args.min_battery, require_docked=not args.anywhere
        ),
        missed=MissedRunPolicy(args.missed),
        retry=RetryPolicy(max_attempts=args.retries, delay_s=parse_duration_s(args.retry_delay)),
        enabled=not args.paused,
    )


def _add(args: argparse.Namespace) -> int:
    schedule = _build(args)

    async def go() -> int:
        from drone_ops.scheduling import ScheduleBook
        from drone_ops.store import open_store

        async with open_store(args.store) as store:
            stored = await ScheduleBook(store, actor=args.actor, principal=principal(args)).add(
                schedule, now=_now()
            )
        state = (
            "paused"
            if not schedule.enabled
            else f"next run {_fmt(stored.next_due_utc, schedule.tz)}"
        )
        print(f"schedule {schedule.name}: {schedule.describe_timing()}, {state}")
        return 0

    return run_async(go)


def _list(args: argparse.Namespace) -> int:
    async def go() -> int:
        from drone_ops.scheduling import ScheduleBook
        from drone_ops.store import open_store

        async with open_store(args.store) as store:
            rows = await ScheduleBook(store, actor=args.actor).schedules()
        if not rows:
            print("no schedules: add one with 'drone-ops schedule add'")
            return 0
        header = ("NAME", "WHEN", "PLAN", "VEHICLES", "STATE", "NEXT RUN")
        table = [header]
        for r in rows:
            s = r.schedule
            table.append(
                (
                    s.name,
                    s.describe_timing(),
                    s.plan.describe(),
                    ",".join(s.vehicles) or "any",
                    "active" if s.enabled else "paused",
                    _fmt(r.next_due_utc, s.tz),
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        return 0

    return run_async(go)


def _show(args: argparse.Namespace) -> int:
    async def go() -> int:
        from drone_ops.scheduling import ScheduleBook
        from drone_ops.store import open_store

        async with open_store(args.store) as store:
            book = ScheduleBook(store, actor=args.actor)
            stored = await book.get(args.name)
            runs = await book.runs(args.name)
        s = stored.schedule
        pre = s.preconditions
        print(f"schedule   {s.name} ({'active' if s.enabled else 'paused'})")
        print(f"when       {s.describe_timing()}")
        print(f"plan       {s.plan.describe()}")
        print(f"vehicles   {', '.join(s.vehicles) or 'any ready vehicle'}")
        print(
            f"requires   battery >= {pre.min_battery_pct:g} %"
            + (", idle" if pre.require_idle else "")
            + (", healthy" if pre.require_healthy else "")
            + (f", docked within {pre.dock_radius_m:g} m of home" if pre.require_docked else "")
        )
        print(
            f"missed     {s.missed.value}; retries {s.retry.max_attempts} every "
            f"{s.retry.delay_s:g} s"
        )
        nxt = stored.next_due_utc
        upcoming = [nxt, *list(_take(s.runs_after(nxt), 4))] if nxt is not None else []
        print("next runs  " + (", ".join(_fmt(t, s.tz) for t in upcoming) or "-"))
        for run in runs[-10:]:
            extra = f" sortie {run.sortie_id}" if run.sortie_id is not None else ""
            why = f" ({run.detail})" if run.detail else ""
            print(f"  run {_fmt(run.due_utc, s.tz)}: {run.status}{extra}{why}")
        return 0

    return run_async(go)


def _take(it: Any, n: int) -> list[datetime]:
    out: list[datetime] = []
    for item in it:
        if len(out) >= n:
            break
        out.append(item)
    return out


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    async def go() -> int:
        from drone_ops.scheduling import ScheduleBook
        from drone_ops.store import open_store

        async with open_store(args.store) as store:
            stored = await ScheduleBook(
                store, actor=args.actor, principal=principal(args)
            ).set_enabled(args.name, enabled, now=_now())
        if enabled:
            nxt = _fmt(stored.next_due_utc, stored.schedule.tz)
            print(f"schedule {args.name} resumed, next run {nxt}")
        else:
            print(f"schedule {args.name} paused")
        return 0

    return run_async(go)


def _pause(args: argparse.Namespace) -> int:
    return _set_enabled(args, False)


def _resume(args: argparse.Namespace) -> int:
    return _set_enabled(args, True)


def _remove(args: argparse.Namespace) -> int:
    async def go() -> int:
        from drone_ops.scheduling import ScheduleBook
        from drone_ops.store import open_store

        async with open_store(args.store) as store:
            await ScheduleBook(store, actor=args.actor, principal=principal(args)).remove(args.name)
        print(f"schedule {args.name} removed (its run history is kept)")
        return 0

    return run_async(go)
