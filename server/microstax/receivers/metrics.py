"""Prometheus metrics of the verifier service (one private registry per service)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "microstax_verifier_decisions", "Authorization decisions, by endpoint, outcome and reason.",
            ["endpoint", "decision", "reason"], registry=self.registry)
        self.latency = Histogram(
            "microstax_verifier_decision_seconds", "Time to decide one request, by endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.cache = Counter(
            "microstax_verifier_token_cache", "Accepted tokens answered from the verified-token "
            "cache (hit) or verified afresh (miss).", ["result"], registry=self.registry)
        self.reloads = Counter(
            "microstax_verifier_config_reloads", "Configuration reloads, by result.", ["result"],
            registry=self.registry)
        # children looked up once: labels() costs more than the increment itself
        self._hit = self.cache.labels("hit")
        self._miss = self.cache.labels("miss")
        self._latency = {e: self.latency.labels(e) for e in ("authz", "tokenreview")}
        self._accepted = {e: self.decisions.labels(e, "accepted", "ok") for e in ("authz", "tokenreview")}

    def accepted(self, endpoint: str, seconds: float, cached: bool) -> None:
        self._accepted[endpoint].inc()
        self._latency[endpoint].observe(seconds)
        (self._hit if cached else self._miss).inc()

    def refused(self, endpoint: str, reason: str, seconds: float) -> None:
        self.decisions.labels(endpoint, "refused", reason).inc()
        self._latency[endpoint].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
