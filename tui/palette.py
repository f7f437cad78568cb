"""Command palette provider: every console action, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.actions import ACTIONS

__all__ = ["ConsoleCommands"]


class ConsoleCommands(Provider):
    async def discover(self) -> Hits:
        for action in ACTIONS:
            yield DiscoveryHit(
                f"{action.title}  [{action.key.split(',')[0]}]",
                partial(self.app.run_action, action.action),
                text=action.title,
                help=action.help,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in ACTIONS:
            score = max(matcher.match(action.title), matcher.match(action.help) * 0.5)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(action.title),
                    partial(self.app.run_action, action.action),
                    text=action.title,
                    help=action.help,
                )
