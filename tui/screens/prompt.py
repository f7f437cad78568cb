"""Small input dialogs: a note, a go-to position. They validate; they never send."""

from __future__ import annotations

import math
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["GotoScreen", "GotoTarget", "NoteScreen", "PointScreen", "parse_point"]

_CSS = """
{name} {{
    align: center middle;
}}
{name} > Vertical {{
    width: 64;
    max-width: 100%;
    height: auto;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}}
{name} #error {{
    color: $error;
    height: auto;
}}
"""


class NoteScreen(ModalScreen[str | None]):
    """Ask for one line of text (incident note). Escape returns None."""

    DEFAULT_CSS = _CSS.format(name="NoteScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, *, placeholder: str = "note", allow_empty: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(placeholder=self.placeholder, id="note")
            yield Label("", id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value and not self.allow_empty:
            self.query_one("#error", Label).update("a note is required; type one or press Esc")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


GotoTarget = tuple[float, float, float]


class GotoScreen(ModalScreen[GotoTarget | None]):
    """Ask for `lat lon alt`; bad input says what is wrong and stays open."""

    DEFAULT_CSS = _CSS.format(name="GotoScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, vehicle_id: str, default: GotoTarget | None) -> None:
        super().__init__()
        self.vehicle_id = vehicle_id
        self.default = default

    def compose(self) -> ComposeResult:
        value = ""
        if self.default is not None:
            value = f"{self.default[0]:.6f} {self.default[1]:.6f} {self.default[2]:.0f}"
        with Vertical():
            yield Label(f"Go to — {self.vehicle_id}: latitude longitude altitude(m)")
            yield Input(value=value, placeholder="47.397742 8.545594 30", id="target")
            yield Label("", id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        parts = event.value.replace(",", " ").split()
        error = ""
        try:
            lat, lon, alt = (float(p) for p in parts)
        except ValueError:
            error = "enter three numbers: latitude longitude altitude, e.g. 47.3977 8.5456 30"
        else:
            if not all(math.isfinite(x) for x in (lat, lon, alt)):
                error = "numbers must be finite"
            elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
                error = "latitude must be within ±90 and longitude within ±180"
            elif not 1 <= alt <= 500:
                error = "altitude must be 1..500 m above home"
        if error:
            self.query_one("#error", Label).update(error)
            return
        self.dismiss((lat, lon, alt))

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_point(text: str) -> tuple[float, float]:
    """`47.3977, 8.5456` (or space-separated) → (lat, lon); ValueError says what is wrong."""
    parts = text.replace(",", " ").split()
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise ValueError("enter two numbers: latitude, longitude, e.g. 47.3977, 8.5456") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("numbers must be finite")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude must be within ±90 and longitude within ±180")
    return lat, lon


class PointScreen(ModalScreen[tuple[float, float] | None]):
    """Ask for `lat, lon`; bad input says what is wrong and stays open."""

    DEFAULT_CSS = _CSS.format(name="PointScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{self.title_text} — latitude, longitude:")
            yield Input(placeholder="47.397742, 8.545594", id="point")
            yield Label("", id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            point = parse_point(event.value)
        except ValueError as exc:
            self.query_one("#error", Label).update(str(exc))
            return
        self.dismiss(point)

    def action_cancel(self) -> None:
        self.dismiss(None)
