"""Prometheus metrics, computed at scrape time from the entries' state (so they never drift).

Names (labels ``workload``, ``target`` unless said otherwise):

``microstax_controller_tokens_issued_total``            tokens fetched, verified and written
``microstax_controller_refresh_failures_total``         failed attempts, by ``cause`` (see acquire.py)
``microstax_controller_token_expiry_seconds``           seconds until the held token expires (0: none)
``microstax_controller_token_valid``                    1 while the entry holds a servable token
``microstax_controller_consecutive_failures``           failures since the last success
``microstax_controller_next_attempt_seconds``           seconds until the next refresh attempt
``microstax_controller_renew_hooks_total``              renew hook runs, by ``result``
``microstax_controller_credential_rotations_total``     subject token / secret file changes noticed
``microstax_controller_config_reloads_total``           config reloads, by ``result`` (no entry labels)
``microstax_controller_ready``                          1 when every entry holds a servable token
``microstax_controller_entries``                        configured entries
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .state import EntryState

PREFIX = "microstax_controller_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ["workload", "target"]


class Source(Protocol):
    def states(self) -> list[EntryState]: ...

    def reloads(self) -> dict[str, int]: ...


class ControllerCollector(Collector):
    def __init__(self, source: Source, clock: Callable[[], float]) -> None:
        self.source = source
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        states = self.source.states()
        issued = CounterMetricFamily(PREFIX + "tokens_issued", "Tokens fetched, verified and written.",
                                     labels=LABELS)
        failures = CounterMetricFamily(PREFIX + "refresh_failures",
                                       "Failed refresh attempts, by cause.", labels=[*LABELS, "cause"])
        expiry = GaugeMetricFamily(PREFIX + "token_expiry_seconds",
                                   "Seconds until the held token expires (0 when none is held).",
                                   labels=LABELS)
        valid = GaugeMetricFamily(PREFIX + "token_valid",
                                  "1 while the entry holds a servable (unexpired) token.", labels=LABELS)
        consecutive = GaugeMetricFamily(PREFIX + "consecutive_failures",
                                        "Failed attempts since the last success.", labels=LABELS)
        next_attempt = GaugeMetricFamily(PREFIX + "next_attempt_seconds",
                                         "Seconds until the next refresh attempt.", labels=LABELS)
        renews = CounterMetricFamily(PREFIX + "renew_hooks", "Renew hook runs, by result.",
                                     labels=[*LABELS, "result"])
        rotations = CounterMetricFamily(PREFIX + "credential_rotations",
                                        "Changes of the subject token (or client secret) file noticed.",
                                        labels=LABELS)
        for st in states:
            labels = [st.spec.workload, st.spec.target]
            issued.add_metric(labels, st.issued)
            for cause, count in sorted(st.failures_by_cause.items()):
                failures.add_metric([*labels, cause], count)
            expiry.add_metric(labels, round(st.seconds_to_expiry(now), 3))
            valid.add_metric(labels, 1.0 if st.holds(now) else 0.0)
            consecutive.add_metric(labels, st.failures)
            next_attempt.add_metric(labels, round(max(0.0, st.next_attempt - now), 3))
            for result, count in sorted(st.renews_by_result.items()):
                renews.add_metric([*labels, result], count)
            rotations.add_metric(labels, st.credential_rotations)
        reloads = CounterMetricFamily(PREFIX + "config_reloads", "Config reloads, by result.",
                                      labels=["result"])
        for result, count in sorted(self.source.reloads().items()):
            reloads.add_metric([result], count)
        ready = GaugeMetricFamily(PREFIX + "ready",
                                  "1 when every entry holds a servable token.")
        ready.add_metric([], 1.0 if states and all(s.holds(now) for s in states) else 0.0)
        entries = GaugeMetricFamily(PREFIX + "entries", "Configured entries (workload x target).")
        entries.add_metric([], len(states))
        yield from (issued, failures, expiry, valid, consecutive, next_attempt, renews, rotations,
                    reloads, ready, entries)


def make_registry(source: Source, clock: Callable[[], float]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ControllerCollector(source, clock))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
