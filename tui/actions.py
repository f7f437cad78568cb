"""Every console action in one table: key bindings, footer and command palette all read it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

__all__ = ["ACTIONS", "ConsoleAction", "bindings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleAction:
    key: str
    action: str  # Textual action string run on the app
    title: str
    help: str
    show: bool = True  # listed in the footer (the palette lists every action)


ACTIONS: tuple[ConsoleAction, ...] = (
    ConsoleAction(
        key="h", action="vehicle('rtl')", title="RTL", help="Return the selected vehicle to launch"
    ),
    ConsoleAction(
        key="p",
        action="vehicle('pause')",
        title="Pause",
        help="Pause the selected vehicle's sortie (hold position)",
    ),
    ConsoleAction(
        key="c",
        action="vehicle('resume')",
        title="Resume",
        help="Resume the selected vehicle's paused sortie",
    ),
    ConsoleAction(
        key="s",
        action="vehicle('start_patrol')",
        title="Patrol",
        help="Upload the loaded plan and start a sortie on the selected vehicle",
    ),
    ConsoleAction(
        key="m",
        action="mark_incident",
        title="Mark",
        help="Raise an incident at the selected vehicle's position",
    ),
    ConsoleAction(
        key="i",
        action="show_incidents",
        title="Incidents",
        help="List, filter, acknowledge and resolve incidents",
    ),
    ConsoleAction(
        key="o", action="show_planner", title="Planner", help="Open or check a patrol plan file"
    ),
    ConsoleAction(
        key="d",
        action="dispatch",
        title="Dispatch",
        help="Dispatch the nearest ready vehicle to a point (asks lat, lon; confirms the vehicle)",
        show=False,
    ),
    ConsoleAction(
        key="a", action="vehicle('arm')", title="Arm", help="Arm the selected vehicle", show=False
    ),
    ConsoleAction(
        key="t",
        action="vehicle('takeoff')",
        title="Take off",
        help="Take off the selected vehicle to the default altitude",
        show=False,
    ),
    ConsoleAction(
        key="g",
        action="vehicle('goto')",
        title="Go to",
        help="Fly the selected vehicle to a position",
        show=False,
    ),
    ConsoleAction(
        key="l",
        action="vehicle('land')",
        title="Land",
        help="Land the selected vehicle where it is",
        show=False,
    ),
    ConsoleAction(
        key="x",
        action="vehicle('abort')",
        title="Abort",
        help="Abort the selected vehicle's sortie (RTL)",
        show=False,
    ),
    ConsoleAction(
        key="f",
        action="toggle_follow",
        title="Follow",
        help="Map follows the selected vehicle",
        show=False,
    ),
    ConsoleAction(
        key="plus,equals_sign",
        action="zoom(1)",
        title="Zoom in",
        help="Zoom the map in",
        show=False,
    ),
    ConsoleAction(
        key="minus", action="zoom(-1)", title="Zoom out", help="Zoom the map out", show=False
    ),
    ConsoleAction(
        key="0",
        action="fit_map",
        title="Fit map",
        help="Zoom the map to show the plan and every vehicle",
        show=False,
    ),
    ConsoleAction(
        key="shift+left",
        action="pan(-8,0)",
        title="Pan west",
        help="Move the map view west",
        show=False,
    ),
    ConsoleAction(
        key="shift+right",
        action="pan(8,0)",
        title="Pan east",
        help="Move the map view east",
        show=False,
    ),
    ConsoleAction(
        key="shift+up",
        action="pan(0,-4)",
        title="Pan north",
        help="Move the map view north",
        show=False,
    ),
    ConsoleAction(
        key="shift+down",
        action="pan(0,4)",
        title="Pan south",
        help="Move the map view south",
        show=False,
    ),
)


def bindings() -> list[Binding]:
    return [Binding(a.key, a.action, a.title, show=a.show) for a in ACTIONS]
