"""aiomqtt clients built from `MqttConfig`, with connect failures translated.

The one place that turns our configuration into aiomqtt's arguments, so the
bridge and `drone-ops watch` connect the same way.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt

from telemetry.errors import BrokerUnreachableError
from telemetry.mqtt_config import MqttConfig

__all__ = ["connect", "make_client"]


def make_client(
    config: MqttConfig,
    *,
    identifier: str | None = None,
    will: aiomqtt.Will | None = None,
    clean_session: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> aiomqtt.Client:
    """An unconnected client; enter it with ``async with`` to connect.

    Pass `ssl_context` to reuse one built (and checked) earlier; otherwise it is
    built from ``config.tls``, raising `MqttConfigError` for unusable files.
    """
    if ssl_context is None and config.tls is not None:
        ssl_context = config.tls.ssl_context()
    return aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        identifier=identifier,
        will=will,
        clean_session=clean_session,
        keepalive=config.keepalive_s,
        timeout=config.connect_timeout_s,
        tls_context=ssl_context,
        # Telemetry is many small packets: without this, Nagle's algorithm holds them
        # back for tens of milliseconds waiting for the broker's delayed ACK.
        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        tls_insecure=(not config.tls.check_hostname) if config.tls is not None else None,
    )


@asynccontextmanager
async def connect(
    config: MqttConfig,
    *,
    identifier: str | None = None,
    clean_session: bool | None = None,
) -> AsyncIterator[aiomqtt.Client]:
    """Connect once; a broker that cannot be reached raises `BrokerUnreachableError`."""
    client = make_client(config, identifier=identifier, clean_session=clean_session)
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        raise BrokerUnreachableError(
            f"cannot connect to the MQTT broker at {config.address}: {exc}; "
            "check the address and credentials and that the broker is running"
        ) from exc
    try:
        yield client
    finally:
        await client.__aexit__(None, None, None)
