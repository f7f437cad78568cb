"""One line naming the fleet's worst current alerts."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.model import Alert, AlertLevel

__all__ = ["AlertBar"]

_STYLE = {
    AlertLevel.CRITICAL: "bold white on red",
    AlertLevel.WARNING: "bold black on yellow",
    AlertLevel.INFO: "bold",
}


class AlertBar(Widget):
    DEFAULT_CSS = """
    AlertBar {
        height: 1;
        width: 1fr;
    }
    """

    alerts: reactive[tuple[Alert, ...]] = reactive(())

    def render(self) -> Text:
        if not self.alerts:
            return Text("no alerts", style="dim")
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, alert in enumerate(self.alerts):
            if i:
                text.append(" ")
            text.append(f" {alert.vehicle_id}: {alert.text} ", style=_STYLE[alert.level])
        return text
