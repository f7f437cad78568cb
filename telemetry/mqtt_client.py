"""aiomqtt clients built from `MqttConfig`, with connect failures translated.

The one place that turns our configuration into aiomqtt's arguments, so the
bridge and `drone-ops watch` connect the same way.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from telemetry.errors import BrokerUnreachableError
from telemetry.mqtt_config import MqttConfig

__all__ = ["PublishRefusedError", "connect", "make_client"]


class PublishRefusedError(aiomqtt.MqttCodeError):
    """The broker answered a QoS 1 PUBLISH with a failure (MQTT v5), e.g. "Not authorized"."""


class _RefusalAwareClient(aiomqtt.Client):
    """An MQTT v5 client whose QoS 1 `publish` raises when the PUBACK says "refused".

    Under MQTT 3.1.1 a broker cannot refuse a publish: Mosquitto acknowledges a
    message its ACL denies and drops it, so an outbox would delete it as delivered.
    MQTT v5 puts the reason in the PUBACK, but aiomqtt 2 only sets an event per
    message id; this subclass keeps the refused ids and checks its own after the
    wait. It leans on aiomqtt's `_client`, `_pending_call`, `_pending_publishes`
    and `_wait_for` (2.x), which the tests in `tests/security/` exercise against Mosquitto.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused: dict[int, ReasonCode] = {}

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure and mid in self._pending_publishes:
            self._refused[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish(  # type: ignore[override]  # keyword-only extras dropped on purpose
        self,
        /,
        topic: str,
        payload: aiomqtt.types.PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - aiomqtt's publish(timeout=)
    ) -> None:
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if info.is_published():
            return
        confirmation = asyncio.Event()
        with self._pending_call(info.mid, confirmation, self._pending_publishes):
            await self._wait_for(confirmation.wait(), timeout=timeout)
        refused = self._refused.pop(info.mid, None)
        if refused is not None:
            raise PublishRefusedError(refused, f"the broker refused to publish on {topic}")


def make_client(
    config: MqttConfig,
    *,
    identifier: str | None = None,
    will: aiomqtt.Will | None = None,
    clean_session: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    refusals: bool = False,
) -> aiomqtt.Client:
    """An unconnected client; enter it with ``async with`` to connect.

    Pass `ssl_context` to reuse one built (and checked) earlier; otherwise it is
    built from ``config.tls``, raising `MqttConfigError` for unusable files.
    With `refusals`, the client speaks MQTT v5 and a QoS 1 publish the broker
    refuses (its ACL) raises `PublishRefusedError` instead of passing as sent;
    `clean_session` then becomes v5's clean start.
    """
    if ssl_context is None and config.tls is not None:
        ssl_context = config.tls.ssl_context()
    extra: dict[str, Any] = {}
    cls = aiomqtt.Client
    if refusals:
        cls = _RefusalAwareClient
        extra["protocol"] = aiomqtt.ProtocolVersion.V5
        if clean_session is not None:
            extra["clean_start"] = clean_session
            clean_session = None
    return cls(
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
        **extra,
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
