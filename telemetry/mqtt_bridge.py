"""The MQTT bridge: telemetry from the bus out to a broker, events through a durable outbox.

Per vehicle, samples go to ``…/telemetry`` decimated to `BridgeConfig.telemetry_rate_hz`
(QoS 0: a missed sample is replaced by the next) and the latest sample to
``…/state`` (retained, so a new subscriber sees every vehicle at once).
Events and incidents are QoS 1 and go through the `Outbox` first: accepted
while the broker is down, delivered in order when it is back, removed only
after the PUBACK. The controller announces itself on
``drone-ops/<fleet>/controllers/<id>`` ("online", retained) and leaves a last
will ("offline", retained) that the broker publishes if the controller dies.

Connection state is an explicit `LinkState`; reconnects follow `Backoff`. The
bridge never blocks the vehicle link: it reads the bus through a LATEST
subscription and counts what it drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Self

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from telemetry.backoff import Backoff
from telemetry.bus import Bus, Policy, Subscription
from telemetry.codec import EventMessage, encode_event, encode_sample
from telemetry.errors import BusClosedError, MqttConfigError, TelemetryError
from telemetry.mqtt_client import PublishRefusedError, make_client
from telemetry.mqtt_config import MqttConfig
from telemetry.outbox import Outbox, OutboxMessage
from telemetry.sample import TelemetrySample
from telemetry.topics import Topics, validate_name

__all__ = ["BridgeConfig", "BridgeStats", "LinkState", "MqttBridge"]

_log = logging.getLogger(__name__)

_FORWARD_BATCH: Final = 256  # samples taken from the bus per round of publishes

ONLINE: Final = b"online"
OFFLINE: Final = b"offline"


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # waiting to retry
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeConfig:
    """What the bridge publishes and how; rates in Hz, intervals in seconds."""

    fleet: str
    controller_id: str
    outbox_path: Path
    telemetry_rate_hz: float = 2.0  # per vehicle, by sample time; 0 turns telemetry off
    state_interval_s: float = 5.0  # retained state refresh; also sent at once on a change
    queue_maxsize: int = 4096  # the bridge's LATEST subscription to the bus
    outbox_window: int = 32  # QoS 1 messages in flight at once
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        validate_name("fleet name", self.fleet)
        validate_name("controller id", self.controller_id)
        if self.telemetry_rate_hz < 0:
            raise MqttConfigError("telemetry rate must be 0 (off) or positive, e.g. 2 Hz")
        if self.state_interval_s <= 0:
            raise MqttConfigError("state interval must be positive, e.g. 5 s")
        if self.queue_maxsize < 1 or self.outbox_window < 1:
            raise MqttConfigError("bridge queue size and outbox window must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeStats:
    state: LinkState
    connects: int  # successful connections, the first included
    failed_connects: int  # attempts refused or unanswered, and connections lost
    telemetry_sent: int
    telemetry_decimated: int  # skipped to hold the configured rate
    telemetry_dropped: int  # lost while disconnected or on the bus (LATEST)
    state_sent: int
    outbox_depth: int  # QoS 1 messages not yet acknowledged
    outbox_delivered: int


class MqttBridge:
    """Bridges one controller's telemetry bus and events to an MQTT broker.

    ``async with MqttBridge(mqtt, config, bus) as bridge:`` starts it; leaving
    the block says "offline", disconnects cleanly and stops its tasks. Pass
    ``bus=None`` to use the bridge for events only.
    """

    def __init__(
        self,
        mqtt: MqttConfig,
        config: BridgeConfig,
        bus: Bus[TelemetrySample] | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._config = config
        # Built once, here: unusable TLS files are a configuration error, not a retry.
        self._ssl_context = mqtt.tls.ssl_context() if mqtt.tls is not None else None
        self._bus = bus
        self._topics = Topics(config.fleet)
        self._presence_topic = self._topics.presence(config.controller_id)
        self._outbox = Outbox(config.outbox_path)
        self._state = LinkState.CLOSED
        self._state_changed = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_sent_us: dict[str, int] = {}
        self._last_state: dict[str, TelemetrySample] = {}
        self._last_state_us: dict[str, int] = {}
        self._connects = 0
        self._failed_connects = 0
        self._telemetry_sent = 0
        self._telemetry_decimated = 0
        self._telemetry_dropped = 0
        self._state_sent = 0
        self._outbox_delivered = 0
        self._sub: Subscription[TelemetrySample] | None = None
        self._last_failure: str | None = None  # said once, not on every retry

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        try:
            await self._stack.enter_async_context(self._outbox)
            if self._bus is not None:
                self._sub = await self._stack.enter_async_context(
                    self._bus.subscribe(
                        f"mqtt-bridge-{self._config.fleet}",
                        policy=Policy.LATEST,
                        maxsize=self._config.queue_maxsize,
                    )
                )
            self._tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        except BaseException as exc:
            await self._stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._set_state(LinkState.CONNECTING)
        self._tasks.append(self._tg.create_task(self._run_connection(), name="mqtt-connection"))
        if self._sub is not None:
            self._tasks.append(
                self._tg.create_task(self._forward_telemetry(self._sub), name="mqtt-telemetry")
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._state is LinkState.CONNECTING:
            # aiomqtt cancelled while it waits for the CONNACK leaves its socket and a
            # task behind: let the attempt end, which the connect and ack timeouts bound.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._mqtt.connect_timeout_s + self._mqtt.ack_timeout_s):
                    await self.wait_state(LinkState.CONNECTED, LinkState.DISCONNECTED)
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(
                    self._presence_topic,
                    OFFLINE,
                    qos=1,
                    retain=True,
                    timeout=self._mqtt.ack_timeout_s,
                )
        for task in self._tasks:
            task.cancel()  # the connection task disconnects cleanly as it unwinds
        self._set_state(LinkState.CLOSED)
        await self._stack.__aexit__(None, None, None)

    # ------------------------------------------------------------ public API

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def outbox_path(self) -> Path:
        return self._outbox.path

    async def wait_connected(self) -> None:
        """Wait until the bridge is connected (use a timeout at the call site)."""
        await self._connected.wait()

    async def wait_state(self, *states: LinkState) -> LinkState:
        """Wait until the link is in one of `states`; returns the state reached."""
        while self._state not in states:
            changed = self._state_changed
            await changed.wait()
        return self._state

    def _set_state(self, state: LinkState) -> None:
        if state is not self._state:
            self._state = state
            self._state_changed.set()
            self._state_changed = asyncio.Event()  # waiters hold the old one, now set

    async def flush(self) -> None:
        """Wait until every accepted QoS 1 message has been acknowledged by the broker."""
        await self._outbox.wait_empty()

    async def publish_event(self, event: EventMessage) -> None:
        """Queue a vehicle event for ``…/<vehicle>/events``; returns once it is on disk."""
        if event.vehicle_id is None:
            raise TelemetryError(
                f"event '{event.kind}' has no vehicle_id; use publish_incident for fleet-wide "
                "messages"
            )
        topic = self._topics.events(validate_name("vehicle id", event.vehicle_id))
        await self._outbox.put(topic, encode_event(event), qos=1)

    async def publish_incident(self, event: EventMessage) -> None:
        """Queue an incident message for ``drone-ops/<fleet>/incidents``; durable on return."""
        await self._outbox.put(self._topics.incidents(), encode_event(event), qos=1)

    def stats(self) -> BridgeStats:
        bus_drops = self._sub.stats().dropped if self._sub is not None else 0
        return BridgeStats(
            state=self._state,
            connects=self._connects,
            failed_connects=self._failed_connects,
            telemetry_sent=self._telemetry_sent,
            telemetry_decimated=self._telemetry_decimated,
            telemetry_dropped=self._telemetry_dropped + bus_drops,
            state_sent=self._state_sent,
            outbox_depth=len(self._outbox),
            outbox_delivered=self._outbox_delivered,
        )

    # ------------------------------------------------------------ connection

    async def _run_connection(self) -> None:
        delays = self._config.backoff.delays()
        while True:
            self._set_state(LinkState.CONNECTING)
            try:
                await self._connected_session()
            except* (aiomqtt.MqttError, OSError) as group:
                self._failed_connects += 1
                self._report_failure(_first(group))
            if self._connected.is_set():
                delays = self._config.backoff.delays()  # it worked for a while: start over
            self._client = None
            self._connected.clear()
            self._set_state(LinkState.DISCONNECTED)
            await asyncio.sleep(next(delays))

    def _report_failure(self, exc: BaseException) -> None:
        """One warning per kind of failure; its repeats (every retry) at debug level.

        A broker that refuses the login, or the ACL that refuses this controller's
        messages, will not change its mind on the next retry: say what to check,
        once. QoS 1 messages stay in the outbox meanwhile.
        """
        who = repr(self._mqtt.username) if self._mqtt.username else "anonymous"
        where = f"MQTT broker {self._mqtt.address}"
        if isinstance(exc, PublishRefusedError):
            text = (
                f"{where} refused this controller's messages as {who}: {exc}; check that the "
                f"broker ACL lets {who} publish drone-ops/{self._config.fleet}/#; "
                "events wait in the outbox, retrying"
            )
        elif isinstance(exc, MqttConnectError):
            text = (
                f"{where} refused the login as {who}: {exc}; check the user name and "
                "password; events wait in the outbox, retrying"
            )
        else:
            text = f"{where}: {exc}; retrying"
        if text != self._last_failure:
            _log.warning("%s", text)
            self._last_failure = text
        else:
            _log.debug("%s", text)

    async def _connected_session(self) -> None:
        will = aiomqtt.Will(self._presence_topic, OFFLINE, qos=1, retain=True)
        client = make_client(
            self._mqtt,
            identifier=f"drone-ops-{self._config.fleet}-{self._config.controller_id}",
            will=will,
            clean_session=True,
            ssl_context=self._ssl_context,
            refusals=True,  # MQTT v5: a message the ACL denies must stay in the outbox
        )
        # Up to a window of QoS 1 plus a batch of telemetry are in flight at once, by design.
        client.pending_calls_threshold = self._config.outbox_window + _FORWARD_BATCH * 2
        async with client:
            await client.publish(
                self._presence_topic, ONLINE, qos=1, retain=True, timeout=self._mqtt.ack_timeout_s
            )
            self._client = client
            self._connects += 1
            self._set_state(LinkState.CONNECTED)
            self._connected.set()
            self._last_failure = None
            _log.info("MQTT broker %s: connected", self._mqtt.address)
            await self._republish_states(client)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._watch_disconnect(client), name="mqtt-disconnect-watch")
                tg.create_task(self._drain_outbox(client), name="mqtt-outbox")

    @staticmethod
    async def _watch_disconnect(client: aiomqtt.Client) -> None:
        """Raise MqttError when the connection drops (we subscribe to nothing)."""
        async for _ in client.messages:
            pass

    async def _drain_outbox(self, client: aiomqtt.Client) -> None:
        """Send the outbox in order, a window at a time; delete what the broker acknowledged."""
        outbox = self._outbox
        while True:
            batch = await outbox.peek(self._config.outbox_window)
            if not batch:
                await outbox.wait_added()
                continue
            acked: list[int] = []
            try:
                # Tasks start in creation order, so the PUBLISH packets leave in outbox order.
                async with asyncio.TaskGroup() as tg:
                    for m in batch:
                        tg.create_task(self._send(client, m, acked), name=f"outbox-{m.id}")
            finally:
                await asyncio.shield(outbox.remove(acked))

    async def _send(self, client: aiomqtt.Client, msg: OutboxMessage, acked: list[int]) -> None:
        await client.publish(
            msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, timeout=self._mqtt.ack_timeout_s
        )
        acked.append(msg.id)
        self._outbox_delivered += 1

    # ------------------------------------------------------------ telemetry

    async def _forward_telemetry(self, sub: Subscription[TelemetrySample]) -> None:
        """Decimate per vehicle and publish; a batch's publishes go out concurrently
        (in order on the wire) instead of one event-loop round trip each."""
        rate = self._config.telemetry_rate_hz
        period_us = int(1e6 / rate) if rate > 0 else 0
        state_period_us = int(self._config.state_interval_s * 1e6)
        while True:
            try:
                batch = await sub.get_batch(_FORWARD_BATCH)
            except BusClosedError:
                return
            outgoing: list[tuple[str, bytes, bool]] = []  # topic, payload, is_state
            for sample in batch:
                vid = sample.vehicle_id
                t = sample.time_unix_us
                previous = self._last_state.get(vid)
                self._last_state[vid] = sample
                if (
                    previous is None
                    or _state_changed(previous, sample)
                    or not 0 <= t - self._last_state_us.get(vid, t) < state_period_us
                ):
                    self._last_state_us[vid] = t
                    outgoing.append((self._topics.state(vid), encode_sample(sample), True))
                if period_us == 0:
                    continue
                last = self._last_sent_us.get(vid)
                if last is not None and 0 <= t - last < period_us:
                    self._telemetry_decimated += 1
                    continue
                self._last_sent_us[vid] = t
                outgoing.append((self._topics.telemetry(vid), encode_sample(sample), False))
            client = self._client
            if client is None:  # states are re-sent on reconnect; telemetry is gone
                self._telemetry_dropped += sum(1 for _, _, is_state in outgoing if not is_state)
                continue
            async with asyncio.TaskGroup() as tg:
                for topic, payload, is_state in outgoing:
                    tg.create_task(
                        self._publish_telemetry(client, topic, payload, is_state=is_state),
                        name="mqtt-telemetry-publish",
                    )

    async def _publish_telemetry(
        self, client: aiomqtt.Client, topic: str, payload: bytes, *, is_state: bool
    ) -> None:
        try:
            await client.publish(
                topic,
                payload,
                qos=1 if is_state else 0,
                retain=is_state,
                timeout=self._mqtt.ack_timeout_s,
            )
        except aiomqtt.MqttError:
            if not is_state:
                self._telemetry_dropped += 1
            return
        if is_state:
            self._state_sent += 1
        else:
            self._telemetry_sent += 1

    async def _republish_states(self, client: aiomqtt.Client) -> None:
        """After a reconnect the broker's retained state may be stale: send what we know."""
        async with asyncio.TaskGroup() as tg:
            for sample in list(self._last_state.values()):
                tg.create_task(
                    self._publish_telemetry(
                        client,
                        self._topics.state(sample.vehicle_id),
                        encode_sample(sample),
                        is_state=True,
                    ),
                    name="mqtt-state-republish",
                )


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf exception of a (nested) group: what a TaskGroup failed with."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _state_changed(a: TelemetrySample, b: TelemetrySample) -> bool:
    return a.mode != b.mode or a.armed != b.armed or a.landed_state != b.landed_state
