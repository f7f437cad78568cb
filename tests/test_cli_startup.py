"""`drone-ops --help` (and any command's parser) loads no heavy library: the store,
MAVSDK, PyAV and Textual load only inside the handler that needs them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

import drone_ops.store
from drone_ops.cli import COMMANDS, build_parser
from drone_ops.cli._common import DEFAULT_STORE_URL

HEAVY = ("sqlalchemy", "mavsdk", "av", "textual")
ALSO_NOT_FOR_HELP = ("aiomqtt", "numpy", "shapely", "pymavlink", "drone_ops.store", "sitl", "tui")

_PROBE = """
import contextlib, io, json, sys
from drone_ops.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _probe(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_top_level_help_lists_every_command_and_imports_nothing_heavy() -> None:
    result = _probe("--help")
    assert result["code"] == 0
    text = str(result["help"])
    for name in COMMANDS:
        assert f"    {name}" in text
    modules = set(result["modules"])  # type: ignore[call-overload]
    assert modules.isdisjoint(HEAVY + ALSO_NOT_FOR_HELP), modules & set(HEAVY + ALSO_NOT_FOR_HELP)


@pytest.mark.parametrize(
    "command",
    ["demo", "sim", "fly", "status", "plan", "watch", "incidents", "audit", "tui", "schedule",
     "dispatch", "serve"],
)  # fmt: skip
def test_a_commands_own_help_imports_no_heavy_library(command: str) -> None:
    result = _probe(command, "--help")
    assert result["code"] == 0
    assert "usage: drone-ops " + command in str(result["help"])
    modules = set(result["modules"])  # type: ignore[call-overload]
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)


def test_the_command_table_matches_what_the_modules_register() -> None:
    parser = build_parser()  # every module registered in full
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_text for name, (_, help_text) in COMMANDS.items()}


def test_the_clis_default_store_is_the_stores() -> None:
    assert DEFAULT_STORE_URL == drone_ops.store.DEFAULT_STORE_URL
