"""Connection strings and the config file: bad input is refused with a message saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_ops.config import ConfigError, ControllerConfig, load_config
from drone_ops.link.address import LinkAddressError, LinkKind, parse_address


@pytest.mark.parametrize(
    ("url", "kind", "host", "port"),
    [
        ("udpin://0.0.0.0:14540", LinkKind.UDP_IN, "0.0.0.0", 14540),
        ("udp://:14541", LinkKind.UDP_IN, "0.0.0.0", 14541),
        ("udpout://10.0.0.7:14580", LinkKind.UDP_OUT, "10.0.0.7", 14580),
        ("px4:0", LinkKind.UDP_IN, "0.0.0.0", 14540),
        ("px4:7", LinkKind.UDP_IN, "0.0.0.0", 14547),
        ("udpin://[::1]:14540", LinkKind.UDP_IN, "::1", 14540),
    ],
)
def test_udp_and_px4_addresses(url: str, kind: LinkKind, host: str, port: int) -> None:
    a = parse_address(url)
    assert (a.kind, a.host, a.port) == (kind, host, port)


def test_serial_address() -> None:
    a = parse_address("serial:///dev/ttyACM0:57600")
    assert (a.kind, a.device, a.baud) == (LinkKind.SERIAL, "/dev/ttyACM0", 57600)
    assert str(a) == "serial:///dev/ttyACM0:57600"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("tcp://1.2.3.4:5760", "unknown scheme"),
        ("udpin://0.0.0.0:99999", "65535"),
        ("udpout://:14540", "needs the vehicle's host"),
        ("serial:///dev/ttyACM0:12345", "baud rate"),
        ("serial://ttyACM0", "device path"),
        ("14540", "not a connection string"),
        ("px4:999", "0..255"),
    ],
)
def test_bad_addresses_say_what_to_write(url: str, words: str) -> None:
    with pytest.raises(LinkAddressError) as info:
        parse_address(url)
    message = str(info.value)
    assert words in message
    assert "\n" not in message


def test_config_from_toml_overrides_defaults(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        "speedup = 4\n[timeouts]\nheartbeat_loss_s = 2.0\n[preflight]\nmin_satellites = 10\n"
    )
    cfg = load_config(p)
    assert cfg.timeouts.heartbeat_loss_s == 2.0
    assert cfg.preflight.min_satellites == 10
    assert cfg.timeouts.command_ack_s == ControllerConfig().timeouts.command_ack_s
    assert cfg.wall_s(8.0) == 2.0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[timeouts]\nheartbeat_los_s = 2\n", "unknown keys ['heartbeat_los_s']"),
        ("[timeouts]\nconnect_s = -1\n", "must be a positive number"),
        ("[bogus]\n", "unknown tables"),
        ("[timeouts\n", "not valid TOML"),
        ("speedup = 0\n", "speedup"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, words: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert words in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")
