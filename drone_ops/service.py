"""`drone-ops serve`: the unattended controller.

One process runs the fleet, the scheduler, the incident rules, the store
writer, the MQTT bridge (when a broker is configured) and a Prometheus
endpoint, until `stop` is set (SIGTERM/SIGINT in the CLI). Several `serve`
processes may share one PostgreSQL store: each then leases the vehicles it
commands (`drone_ops.lease`), every command carries the lease's fencing
token, and each scheduled run is claimed once.

Shutdown leaves vehicles safe and the record complete: every vehicle flying a
sortie is sent home (RTL, which PX4 flies to a landing on its own), its
sortie is closed as `aborted` with that reason, the leases are released for
a peer to take over, and only then are the links closed.

A crash (SIGKILL, power loss) skips all of that; starting the service again
with the same `controller_id` (and working directory, which holds the MQTT
outbox) picks up where it stopped: the scheduler follows each sortie left
open under that name to its end and closes it (`sortie.resume_after_restart`
in the audit chain), and the outbox delivers what was accepted before the
crash. With a broker configured, every sortie opened or closed is announced
as a QoS 1 event (`sortie.opened` / `sortie.closed` on `…/<vehicle>/events`)
through that outbox.

Configuration (TOML):

    [service]
    controller_id = "ctl-a"                  # default: host-pid
    store = "postgresql://127.0.0.1/drone_ops" # default sqlite:///var/drone-ops.db
    metrics_port = 9108                      # 0 picks a free port; -1 turns it off
    metrics_addr = "127.0.0.1"
    leases = true                            # default: on for PostgreSQL, off for SQLite
    lease_ttl_s = 10
    outage_s = 30                            # how long store writes and lease checks wait
                                             # for an unreachable store (a restart) first
    tlog_dir = "var/tlog"
    mqtt = "mqtt://127.0.0.1:1883"           # optional telemetry bridge
    fleet = "default"                        # MQTT fleet name
    mqtt_ca_file = "/etc/drone-ops/ca.crt"   # the broker's CA (turns TLS on); relative
    mqtt_cert_file = "client.crt"            #   paths are read from this file's folder
    mqtt_key_file = "client.key"             # client certificate + key (mutual TLS)
    mqtt_username = "controller-1"           # password: $DRONE_OPS_MQTT_PASSWORD only
    controller_config = "controller.toml"    # optional: timeouts, preflight, safety
    speedup = 1.0                            # vehicle seconds per wall second (simulators)

The broker password belongs in the environment variable
`DRONE_OPS_MQTT_PASSWORD`, which `drone-ops serve` reads, not in this file or
on the command line (backups, the process list, shell history): an
`mqtt_password` key is refused, and a password inside the `mqtt` URL still
works, for old configurations, but is warned about at every start (the
variable wins over it). Command-line paths (`--mqtt-ca-file` etc.) are read
from the working directory. A broker that refuses the login (wrong password)
or this controller's messages (a user its ACL does not let publish the
fleet's topics, e.g. the viewer) is logged once, with what to check; the
service keeps running, retries, and its events wait in the outbox meanwhile.

    [video]                                  # video evidence for incidents (off by default)
    enabled = true
    dir = "var/video"                        # recorded footage (evidence is copied to the store)
    pre_s = 20                               # footage before and after each incident
    post_s = 20
    retention_s = 86400                      # delete unreferenced footage older than this

    [[vehicles]]                             # vehicle i's camera: RTP/H.264 on UDP 5600+i
    id = "v1"
    connect = "px4:0"
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import socket
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drone_ops.audit import AuditLog
from drone_ops.commands import VehicleError
from drone_ops.config import ControllerConfig, load_config
from drone_ops.errors import DroneOpsError
from drone_ops.fleet import Fleet
from drone_ops.incidents import Incidents, RuleEngine, RuleRunner, default_rules
from drone_ops.incidents.video import (
    VideoEvidenceCapture,
    VideoEvidenceConfig,
    VideoIncidents,
    px4_video_sources,
    video_evidence,
)
from drone_ops.keys import KeyStore
from drone_ops.lease import FencedAuditLog, LeaseKeeper
from drone_ops.metrics import ControllerCollector, MetricsServer
from drone_ops.scheduling.book import ScheduleBook
from drone_ops.scheduling.clock import Clock, SystemClock
from drone_ops.scheduling.scheduler import (
    RunLinkingRecorder,
    Scheduler,
    SortieChange,
    SortieListener,
)
from drone_ops.store import SortieOutcome, Store, StoreWriter, open_store
from drone_ops.store.config import DEFAULT_STORE_URL, StoreConfig
from drone_ops.store.records import now_us
from telemetry.bus import Bus, Policy
from telemetry.errors import MqttConfigError
from telemetry.mqtt_config import MqttConfig, TlsConfig
from telemetry.sample import TelemetrySample
from telemetry.video import VideoSource

if TYPE_CHECKING:  # the MQTT client is imported only when a broker is configured
    from telemetry import MqttBridge
    from telemetry.codec import JsonValue

__all__ = [
    "MQTT_PASSWORD_ENV",
    "JsonLogFormatter",
    "Service",
    "ServiceConfig",
    "ServiceError",
    "VehicleLink",
    "VideoServiceConfig",
    "load_service_config",
    "running_service",
]

log = logging.getLogger("drone_ops.service")

MQTT_PASSWORD_ENV = "DRONE_OPS_MQTT_PASSWORD"  # where serve reads the broker password


class ServiceError(DroneOpsError):
    """The service configuration is wrong or the service cannot start."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleLink:
    vehicle_id: str
    connect: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoServiceConfig:
    """The `[video]` table: record each vehicle's camera and give incidents its footage."""

    enabled: bool = False
    dir: Path = Path("var/video")
    pre_s: float = 20.0
    post_s: float = 20.0
    retention_s: float | None = None  # None: keep all footage

    def __post_init__(self) -> None:
        if not (self.pre_s >= 0 and self.post_s >= 0):
            raise ServiceError("[video] pre_s and post_s must be >= 0 seconds")
        if self.retention_s is not None and not self.retention_s > 0:
            raise ServiceError("[video] retention_s must be > 0 seconds (or left out)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    controller_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    store: str = DEFAULT_STORE_URL
    vehicles: tuple[VehicleLink, ...] = ()
    metrics_port: int = 9108  # 0: any free port; -1: no endpoint
    metrics_addr: str = "127.0.0.1"
    leases: bool | None = None  # None: on for PostgreSQL, off for SQLite
    lease_ttl_s: float = 10.0
    # A store outage shorter than this (a PostgreSQL restart) delays writes and
    # commands instead of failing them; see drone_ops.store.durable.
    outage_s: float = 30.0
    tlog_dir: Path | None = Path("var/tlog")
    mqtt: str | None = field(default=None, repr=False)  # an old-style URL may hold a password
    fleet: str = "default"
    mqtt_ca_file: Path | None = None  # any of the three turns TLS on, as mqtts:// does
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)  # from MQTT_PASSWORD_ENV
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    scheduler_poll_s: float = 60.0
    video: VideoServiceConfig = field(default_factory=VideoServiceConfig)

    def __post_init__(self) -> None:
        if not self.controller_id.strip():
            raise ServiceError("controller_id is empty: give each controller a name")
        if not -1 <= self.metrics_port <= 65535:
            raise ServiceError(f"metrics_port {self.metrics_port} is not a TCP port (or -1: off)")
        if not self.lease_ttl_s > 0:
            raise ServiceError(f"lease_ttl_s {self.lease_ttl_s} must be > 0")
        if not (math.isfinite(self.outage_s) and self.outage_s >= 0):
            raise ServiceError(f"outage_s {self.outage_s} must be a number of seconds >= 0")
        ids = [v.vehicle_id for v in self.vehicles]
        if len(set(ids)) != len(ids):
            raise ServiceError("[[vehicles]] lists a vehicle id twice")
        self.broker()  # a bad broker URL or login is reported before anything starts

    def broker(self) -> MqttConfig | None:
        """The bridge's broker (None: no bridge), built by the one URL parser there is.

        The TLS files are only named here; `MqttBridge` opens them when it starts
        (`TlsConfig.ssl_context`, whose error names the file).
        """
        tls_files = (self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)
        if self.mqtt is None:
            if any(f is not None for f in tls_files) or self.mqtt_username is not None:
                raise ServiceError(
                    "mqtt_ca_file, mqtt_cert_file, mqtt_key_file and mqtt_username need "
                    "mqtt, the broker URL (e.g. mqtts://broker.example:8883)"
                )
            return None
        try:
            tls: TlsConfig | None = None
            if any(f is not None for f in tls_files) or self.mqtt.startswith(("mqtts:", "ssl:")):
                tls = TlsConfig(
                    ca_file=self.mqtt_ca_file,
                    cert_file=self.mqtt_cert_file,
                    key_file=self.mqtt_key_file,
                )
            parsed = MqttConfig.from_url(self.mqtt, tls=tls)
            username = self.mqtt_username if self.mqtt_username is not None else parsed.username
            if self.mqtt_password is not None and username is None:
                raise ServiceError(
                    f"${MQTT_PASSWORD_ENV} is set but no MQTT user is: give mqtt_username "
                    "(--mqtt-username), or unset the variable"
                )
            # The environment wins over a password left in the URL (warned about at start).
            password = self.mqtt_password if self.mqtt_password is not None else parsed.password
            return dataclasses.replace(parsed, username=username, password=password)
        except MqttConfigError as exc:
            raise ServiceError(str(exc)) from None

    @property
    def use_leases(self) -> bool:
        if self.leases is not None:
            return self.leases
        return not StoreConfig(url=self.store).is_sqlite


_SERVICE_KEYS = {
    "controller_id",
    "store",
    "metrics_port",
    "metrics_addr",
    "leases",
    "lease_ttl_s",
    "outage_s",
    "tlog_dir",
    "mqtt",
    "fleet",
    "mqtt_ca_file",
    "mqtt_cert_file",
    "mqtt_key_file",
    "mqtt_username",
    "controller_config",
    "speedup",
    "scheduler_poll_s",
}


def load_service_config(path: str | Path) -> ServiceConfig:
    """Read the TOML file described in the module docstring; errors name the key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServiceError(f"cannot read config {p}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ServiceError(f"config {p} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"service", "vehicles", "video"})
    if unknown:
        raise ServiceError(
            f"config {p}: unknown tables {unknown}; known: [service], [video], [[vehicles]]"
        )
    svc = data.get("service", {})
    if not isinstance(svc, dict):
        raise ServiceError(f"config {p}: [service] must be a table")
    if "mqtt_password" in svc:
        raise ServiceError(
            f"config {p}: [service] mqtt_password is not read from a file; set "
            f"${MQTT_PASSWORD_ENV} in the service's environment instead"
        )
    bad = sorted(set(svc) - _SERVICE_KEYS)
    if bad:
        raise ServiceError(f"config {p}: [service] has unknown keys {bad}")
    vehicles: list[VehicleLink] = []
    if not isinstance(data.get("vehicles", []), list):
        raise ServiceError(f"config {p}: vehicles must be [[vehicles]] tables")
    for i, v in enumerate(data.get("vehicles", [])):
        if not isinstance(v, dict) or not isinstance(v.get("id"), str) or "connect" not in v:
            raise ServiceError(f"config {p}: [[vehicles]] entry {i + 1} needs id and connect")
        vehicles.append(VehicleLink(vehicle_id=v["id"], connect=str(v["connect"])))
    controller = ControllerConfig()
    if "controller_config" in svc:
        controller = load_config(p.parent / str(svc.pop("controller_config")))
    speedup = svc.pop("speedup", None)
    if speedup is not None:
        if isinstance(speedup, bool) or not isinstance(speedup, int | float):
            raise ServiceError(f"config {p}: [service] speedup must be a number")
        controller = controller.scaled(float(speedup))
    if "outage_s" in svc:
        outage = svc["outage_s"]
        if isinstance(outage, bool) or not isinstance(outage, int | float):
            raise ServiceError(f"config {p}: [service] outage_s must be a number of seconds")
        svc["outage_s"] = float(outage)
    if "tlog_dir" in svc:
        if not isinstance(svc["tlog_dir"], str):
            raise ServiceError(f"config {p}: [service] tlog_dir must be a path string")
        svc["tlog_dir"] = Path(svc["tlog_dir"]) if svc["tlog_dir"] else None
    for key in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file"):
        if key in svc:
            if not isinstance(svc[key], str) or not svc[key]:
                raise ServiceError(f"config {p}: [service] {key} must be a path string")
            svc[key] = p.parent / svc[key]  # as controller_config: beside this file
    if "mqtt_username" in svc and not isinstance(svc["mqtt_username"], str):
        raise ServiceError(f"config {p}: [service] mqtt_username must be a string")
    video = _video_config(p, data.get("video", {}))
    try:
        return ServiceConfig(vehicles=tuple(vehicles), controller=controller, video=video, **svc)
    except TypeError as exc:
        raise ServiceError(f"config {p}: {exc}") from exc
    except ServiceError as exc:
        raise ServiceError(f"config {p}: {exc}") from None


def _video_config(p: Path, table: Any) -> VideoServiceConfig:
    if not isinstance(table, dict):
        raise ServiceError(f"config {p}: [video] must be a table")
    bad = sorted(set(table) - {"enabled", "dir", "pre_s", "post_s", "retention_s"})
    if bad:
        raise ServiceError(
            f"config {p}: [video] has unknown keys {bad}; known: enabled, dir, pre_s, post_s, "
            "retention_s"
        )
    try:
        return VideoServiceConfig(
            enabled=bool(table.get("enabled", False)),
            dir=Path(str(table.get("dir", "var/video"))),
            pre_s=float(table.get("pre_s", 20.0)),
            post_s=float(table.get("post_s", 20.0)),
            retention_s=None if table.get("retention_s") is None else float(table["retention_s"]),
        )
    except (TypeError, ValueError) as exc:
        raise ServiceError(f"config {p}: [video] values must be numbers: {exc}") from None


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("vehicle", "controller", "sortie", "run"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, ensure_ascii=False)


@dataclass(slots=True)
class Service:
    """Handles on the running parts (for the CLI, tests and metrics)."""

    config: ServiceConfig
    store: Store
    fleet: Fleet
    scheduler: Scheduler
    book: ScheduleBook
    leases: LeaseKeeper | None
    metrics: MetricsServer | None
    sample_bus: Bus[TelemetrySample]
    sortie_outcomes: Counter[str] = field(default_factory=Counter)
    video: VideoEvidenceCapture | None = None  # with [video] enabled

    async def make_safe(self) -> list[str]:
        """Send every vehicle flying a sortie home and close its record as aborted.

        Returns the vehicles sent home. Vehicles whose lease we no longer hold
        are someone else's to command: they are left alone.
        """
        sent: list[str] = []
        for vid in self.fleet.vehicles():
            sortie = self.fleet.sortie(vid)
            state = self.fleet.state(vid)
            if sortie is None and not state.in_air:
                continue
            try:
                await self.fleet.session(vid).return_to_launch(actor=self.config.controller_id)
                sent.append(vid)
                log.info("sent %s home (RTL) for shutdown", vid, extra={"vehicle": vid})
            except (VehicleError, DroneOpsError) as exc:
                log.warning("could not send %s home: %s", vid, exc, extra={"vehicle": vid})
            if sortie is not None and sortie.sortie_id:
                closer = self.scheduler.recorder or self.store  # the recorder announces it
                try:
                    await closer.close_sortie(
                        sortie.sortie_id,
                        outcome=SortieOutcome.ABORTED,
                        actor=self.config.controller_id,
                    )
                    await self.book.finish_runs_of_sortie(
                        sortie.sortie_id,
                        outcome=SortieOutcome.ABORTED.value,
                        now=self.scheduler.clock.now(),
                        detail="controller shut down; vehicle sent home (RTL)",
                    )
                except DroneOpsError as exc:  # store gone past the bound: say it, go on
                    # the row stays open; this controller resumes it when started again
                    log.error(
                        "sortie %s of %s not closed at shutdown: %s",
                        sortie.sortie_id,
                        vid,
                        exc,
                        extra={"vehicle": vid, "sortie": sortie.sortie_id},
                    )
                    continue
                self.sortie_outcomes[SortieOutcome.ABORTED.value] += 1
        return sent


@asynccontextmanager
async def running_service(
    config: ServiceConfig,
    *,
    clock: Clock | None = None,
    extra_vehicles: tuple[VehicleLink, ...] = (),
    extra_video: Mapping[str, VideoSource] | None = None,
    camera_now_us: Callable[[], int] | None = None,
    camera_speedup: float = 1.0,
) -> AsyncIterator[Service]:
    """Start everything; leaving makes vehicles safe, records it, and stops everything.

    With `[video]` enabled, configured vehicle i's camera is read on UDP 5600+i and
    `extra_video` adds streams (a simulator's, whose clock is `camera_now_us` running
    `camera_speedup` times the wall); every incident then gets its footage.
    """
    me = config.controller_id
    # Schedules run on the wall clock: controllers sharing a store must agree on "now"
    # (a simulator's speedup only scales the controller's vehicle timeouts).
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(
            open_store(StoreConfig(url=config.store, outage_s=config.outage_s))
        )
        capture = await _start_video(
            stack, config, store, extra_video or {}, camera_now_us, camera_speedup
        )
        book = ScheduleBook(store, actor=me)
        recorder = RunLinkingRecorder(store, book, holder=me)
        keeper: LeaseKeeper | None = None
        audit: AuditLog = store.audit
        if config.use_leases:
            keeper = await stack.enter_async_context(
                LeaseKeeper.running(
                    store.engine,
                    holder=me,
                    ttl_s=config.lease_ttl_s,
                    config=store.config,  # the fence waits out an outage as writes do
                    outage=store.outage,
                )
            )
            audit = FencedAuditLog(store.audit, keeper)
        sample_bus: Bus[TelemetrySample] = Bus()
        stack.callback(sample_bus.close)
        outcomes: Counter[str] = Counter()
        fleet = await stack.enter_async_context(
            Fleet(
                audit=audit,
                config=config.controller,
                recorder=recorder,
                sample_bus=sample_bus,
                tlog_dir=config.tlog_dir,
                actor=me,
            )
        )
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        tasks: list[asyncio.Task[None]] = []
        stack.callback(lambda: [t.cancel() for t in tasks])

        # telemetry into the store, never dropped (LOSSLESS spills to disk when behind)
        writer = StoreWriter(store)
        store_sub = await stack.enter_async_context(
            sample_bus.subscribe("store-writer", policy=Policy.LOSSLESS, maxsize=50_000)
        )
        tasks.append(tg.create_task(_write_samples(writer, store_sub), name="store-writer"))
        rules_sub = await stack.enter_async_context(
            sample_bus.subscribe("incident-rules", policy=Policy.LOSSLESS, maxsize=50_000)
        )
        incidents = Incidents(store) if capture is None else VideoIncidents(store, capture)
        runner = RuleRunner(RuleEngine(default_rules()), incidents, actor=f"rules:{me}")
        tasks.append(tg.create_task(runner.run_subscription(rules_sub), name="incident-rules"))
        broker = config.broker()
        if broker is not None:
            bridge = await _start_bridge(stack, config, broker, sample_bus)
            recorder.on_change = _sortie_events(bridge, me)

        scheduler = await stack.enter_async_context(
            Scheduler(
                book=book,
                fleet=fleet,
                store=store,
                clock=clock,
                holder=me,
                recorder=recorder,
                leases=keeper,
                poll_s=config.scheduler_poll_s,
            )
        )
        scheduler.connected = set()
        for link in (*config.vehicles, *extra_vehicles):
            key = KeyStore().load_optional(link.vehicle_id)  # signed when it has a key
            await fleet.add_vehicle(link.vehicle_id, link.connect, wait=False, signing_key=key)
            log.info("vehicle %s on %s", link.vehicle_id, link.connect)
            tasks.append(
                tg.create_task(
                    _connect(fleet, scheduler, link.vehicle_id), name=f"connect:{link.vehicle_id}"
                )
            )
        metrics: MetricsServer | None = None
        service = Service(
            config=config,
            store=store,
            fleet=fleet,
            scheduler=scheduler,
            book=book,
            leases=keeper,
            metrics=None,
            sample_bus=sample_bus,
            sortie_outcomes=outcomes,
            video=capture,
        )
        if config.metrics_port >= 0:
            collector = ControllerCollector(
                states=fleet.states,
                buses={
                    "telemetry": sample_bus,
                    "state": fleet.state_bus,
                    "progress": fleet.progress_bus,
                },
                sortie_outcomes=_outcomes(service),
                schedule_counts=_schedule_counts(scheduler),
            )
            metrics = stack.enter_context(
                MetricsServer(collector, port=config.metrics_port, addr=config.metrics_addr)
            )
            service.metrics = metrics
            log.info("metrics on http://%s:%d/metrics", config.metrics_addr, metrics.port)
        log.info("controller %s serving (store %s)", me, StoreConfig(url=config.store).display())
        try:
            yield service
        finally:
            log.info("controller %s shutting down: making vehicles safe", me)
            await asyncio.shield(service.make_safe())


def _outcomes(service: Service) -> Callable[[], dict[str, int]]:
    def read() -> dict[str, int]:
        total = Counter(service.scheduler.stats.outcomes)
        total.update(service.sortie_outcomes)
        return dict(total)

    return read


def _schedule_counts(scheduler: Scheduler) -> Callable[[], dict[str, int]]:
    def read() -> dict[str, int]:
        s = scheduler.stats
        return {
            "claimed": s.claimed,
            "flown": s.flown,
            "skipped": s.skipped,
            "retries": s.retries,
            "adopted": s.adopted,
            "resumed": s.resumed,
        }

    return read


async def _start_video(
    stack: AsyncExitStack,
    config: ServiceConfig,
    store: Store,
    extra: Mapping[str, VideoSource],
    camera_now_us: Callable[[], int] | None,
    speedup: float,
) -> VideoEvidenceCapture | None:
    video = config.video
    if not video.enabled:
        return None
    sources = {**px4_video_sources([v.vehicle_id for v in config.vehicles]), **extra}
    if not sources:
        log.warning("[video] is enabled but there are no vehicles to record")
        return None
    capture = await stack.enter_async_context(
        video_evidence(
            store,
            sources=sources,
            video_dir=video.dir,
            config=VideoEvidenceConfig(
                pre_s=video.pre_s, post_s=video.post_s, actor=f"video:{config.controller_id}"
            ),
            camera_now_us=camera_now_us,
            speedup=speedup,
            retention_max_age_s=video.retention_s,
        )
    )
    for vid, src in sources.items():
        log.info("video of %s from udp %s:%d into %s", vid, src.host, src.port, video.dir)
    return capture


async def _connect(fleet: Fleet, scheduler: Scheduler, vehicle_id: str) -> None:
    """Wait for a vehicle (however long it takes to appear), then let the scheduler use it."""
    while True:
        try:
            await fleet.session(vehicle_id).wait_connected()
        except DroneOpsError as exc:
            log.warning("%s", exc, extra={"vehicle": vehicle_id})
            continue
        assert scheduler.connected is not None
        scheduler.connected.add(vehicle_id)
        scheduler.wake()
        log.info("vehicle %s ready", vehicle_id, extra={"vehicle": vehicle_id})
        return


async def _write_samples(writer: StoreWriter, sub: Any) -> None:
    from telemetry.errors import BusClosedError

    while True:
        try:
            batch = await sub.get_batch(2000)
        except BusClosedError:
            return
        await writer.write(batch)


async def _start_bridge(
    stack: AsyncExitStack, config: ServiceConfig, broker: MqttConfig, bus: Bus[TelemetrySample]
) -> MqttBridge:
    from telemetry import BridgeConfig, MqttBridge

    if config.mqtt is not None and MqttConfig.from_url(config.mqtt).password is not None:
        log.warning(
            "the mqtt URL carries a password, readable in the config file or the process "
            "list; remove it and set $%s instead",
            MQTT_PASSWORD_ENV,
        )
    outbox = Path("var") / f"mqtt-outbox-{config.controller_id}.sqlite"
    outbox.parent.mkdir(parents=True, exist_ok=True)
    bridge = MqttBridge(
        broker,
        BridgeConfig(fleet=config.fleet, controller_id=config.controller_id, outbox_path=outbox),
        bus,
    )
    await stack.enter_async_context(bridge)
    log.info(
        "telemetry bridge to %s as %s (fleet %s)",
        broker.address,
        broker.username or "anonymous",
        config.fleet,
    )
    return bridge


def _sortie_events(bridge: MqttBridge, me: str) -> SortieListener:
    """Announce sorties on MQTT through the bridge's durable outbox (QoS 1).

    `publish_event` returns once the event is on disk, so an event is either
    accepted (and delivered, even across a crash of this process) or refused
    here with a warning: the sortie record in the store never depends on it.
    """
    from telemetry.codec import EventMessage
    from telemetry.errors import TelemetryError

    async def announce(change: SortieChange) -> None:
        body: dict[str, JsonValue] = {"sortie_id": change.sortie_id, "controller": me}
        if change.plan_name is not None:
            body["plan"] = change.plan_name
        if change.outcome is not None:
            body["outcome"] = change.outcome
        event = EventMessage(
            kind=f"sortie.{change.kind}",
            vehicle_id=change.vehicle_id,
            time_unix_us=now_us(),
            body=body,
        )
        try:
            await bridge.publish_event(event)
        except (TelemetryError, OSError) as exc:
            log.warning(
                "sortie %s %s not announced on MQTT: %s",
                change.sortie_id,
                change.kind,
                exc,
                extra={"vehicle": change.vehicle_id, "sortie": change.sortie_id},
            )

    return announce


async def serve_until(
    config: ServiceConfig,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    extra_vehicles: tuple[VehicleLink, ...] = (),
    extra_video: Mapping[str, VideoSource] | None = None,
    camera_now_us: Callable[[], int] | None = None,
    camera_speedup: float = 1.0,
    on_ready: Callable[[Service], None] | None = None,
) -> None:
    """Run the service until `stop` is set (the CLI sets it on SIGTERM/SIGINT)."""
    async with running_service(
        config,
        clock=clock,
        extra_vehicles=extra_vehicles,
        extra_video=extra_video,
        camera_now_us=camera_now_us,
        camera_speedup=camera_speedup,
    ) as service:
        if on_ready is not None:
            on_ready(service)
        await stop.wait()
    with contextlib.suppress(Exception):
        log.info("controller %s stopped", config.controller_id)
