"""Prometheus metrics of a running controller, read on each scrape.

A custom collector reads the fleet, the buses and the scheduler when
Prometheus scrapes, so the hot paths (telemetry at 50 Hz × many vehicles)
pay nothing for metrics. Each `MetricsServer` has its own registry, so two
controllers (or tests) in one process never share series.

Series:
  drone_ops_vehicles                         vehicles in the fleet
  drone_ops_vehicle_link_up{vehicle}         1 connected, 0 otherwise
  drone_ops_vehicle_link_state{vehicle,state} 1 for the current link state
  drone_ops_vehicle_battery_percent{vehicle}
  drone_ops_vehicle_armed{vehicle}
  drone_ops_vehicle_in_air{vehicle}
  drone_ops_vehicle_heartbeat_age_seconds{vehicle}
  drone_ops_telemetry_rate_hz{vehicle}       MAVLink messages per second received
  drone_ops_telemetry_loss_percent{vehicle}
  drone_ops_bus_published_total{bus}
  drone_ops_queue_depth{bus,subscriber}      items waiting
  drone_ops_queue_lag_seconds{bus,subscriber} age of the oldest waiting item
  drone_ops_queue_dropped_total{bus,subscriber}
  drone_ops_sorties_total{outcome}           sorties closed by this controller
  drone_ops_schedule_runs_total{result}      claimed, flown, skipped, retries, adopted, resumed
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drone_ops.link.policy import LinkState
from drone_ops.state import VehicleState
from telemetry.bus import Bus

__all__ = ["ControllerCollector", "MetricsServer"]


class ControllerCollector(Collector):
    """Reads the controller's live objects at scrape time."""

    def __init__(
        self,
        *,
        states: Callable[[], Mapping[str, VehicleState]],
        buses: Mapping[str, Bus[Any]] | None = None,
        sortie_outcomes: Callable[[], Mapping[str, int]] | None = None,
        schedule_counts: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._states = states
        self._buses = dict(buses or {})
        self._outcomes = sortie_outcomes
        self._schedule = schedule_counts

    def collect(self) -> Iterator[Metric]:
        states = dict(self._states())
        yield GaugeMetricFamily("drone_ops_vehicles", "Vehicles in the fleet", value=len(states))
        up = GaugeMetricFamily(
            "drone_ops_vehicle_link_up", "1 if the vehicle link is connected", labels=["vehicle"]
        )
        link = GaugeMetricFamily(
            "drone_ops_vehicle_link_state", "Current link state", labels=["vehicle", "state"]
        )
        battery = GaugeMetricFamily(
            "drone_ops_vehicle_battery_percent", "Battery remaining", labels=["vehicle"]
        )
        armed = GaugeMetricFamily("drone_ops_vehicle_armed", "1 if armed", labels=["vehicle"])
        in_air = GaugeMetricFamily(
            "drone_ops_vehicle_in_air", "1 if in the air", labels=["vehicle"]
        )
        age = GaugeMetricFamily(
            "drone_ops_vehicle_heartbeat_age_seconds",
            "Time since the last heartbeat",
            labels=["vehicle"],
        )
        rate = GaugeMetricFamily(
            "drone_ops_telemetry_rate_hz", "MAVLink messages per second", labels=["vehicle"]
        )
        loss = GaugeMetricFamily(
            "drone_ops_telemetry_loss_percent", "MAVLink 2 sequence loss", labels=["vehicle"]
        )
        for vid, s in sorted(states.items()):
            up.add_metric([vid], 1.0 if s.link is LinkState.CONNECTED else 0.0)
            for ls in LinkState:
                link.add_metric([vid, ls.value], 1.0 if s.link is ls else 0.0)
            if s.battery_pct is not None:
                battery.add_metric([vid], s.battery_pct)
            armed.add_metric([vid], 1.0 if s.armed else 0.0)
            in_air.add_metric([vid], 1.0 if s.in_air else 0.0)
            if s.heartbeat_age_s is not None:
                age.add_metric([vid], s.heartbeat_age_s)
            if s.link_rate_hz is not None:
                rate.add_metric([vid], s.link_rate_hz)
            if s.link_loss_pct is not None:
                loss.add_metric([vid], s.link_loss_pct)
        yield from (up, link, battery, armed, in_air, age, rate, loss)

        published = CounterMetricFamily(
            "drone_ops_bus_published", "Items published on a bus", labels=["bus"]
        )
        depth = GaugeMetricFamily(
            "drone_ops_queue_depth", "Items waiting for a subscriber", labels=["bus", "subscriber"]
        )
        lag = GaugeMetricFamily(
            "drone_ops_queue_lag_seconds",
            "Age of the oldest item waiting for a subscriber",
            labels=["bus", "subscriber"],
        )
        dropped = CounterMetricFamily(
            "drone_ops_queue_dropped",
            "Items a subscriber lost (keep-newest queues)",
            labels=["bus", "subscriber"],
        )
        for name, bus in sorted(self._buses.items()):
            published.add_metric([name], bus.published)
            for st in bus.stats():
                depth.add_metric([name, st.name], st.depth)
                lag.add_metric([name, st.name], st.lag_s)
                dropped.add_metric([name, st.name], st.dropped)
        yield from (published, depth, lag, dropped)

        sorties = CounterMetricFamily(
            "drone_ops_sorties", "Sorties closed, by outcome", labels=["outcome"]
        )
        for outcome, count in sorted((self._outcomes() if self._outcomes else {}).items()):
            sorties.add_metric([outcome], count)
        yield sorties
        runs = CounterMetricFamily(
            "drone_ops_schedule_runs", "Scheduled runs, by result", labels=["result"]
        )
        for result, count in sorted((self._schedule() if self._schedule else {}).items()):
            runs.add_metric([result], count)
        yield runs


class MetricsServer:
    """`with MetricsServer(collector, port=9108) as m:` serves /metrics; port 0 picks one."""

    def __init__(self, collector: Collector, *, port: int, addr: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._port = port
        self._addr = addr
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    def __enter__(self) -> MetricsServer:
        self._server, self._thread = start_http_server(
            self._port, addr=self._addr, registry=self.registry
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
