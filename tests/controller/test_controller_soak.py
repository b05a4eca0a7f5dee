"""The soak: minutes of accelerated rotation with trouble thrown in, and a workload reading
every token file all the while. The promise under test: zero moments where a workload file
held an expired, partial or unverifiable token, and no moment without one.

Duration: ``MICROSTAX_CONTROLLER_SOAK_SECONDS`` (default 150). Token lifetime 30 s (the
platform's minimum), refresh at 0.2 of it: a rotation every ~6 s per file, four files. During
the run: the Kubernetes subject token is rotated by "kubelet" every 10 s (each one living
only 25 s), the platform is SIGKILLed for 12 s and comes back, the controller is SIGHUPed,
and the controller itself is SIGKILLed and restarted. A summary goes to
``test-artifacts/controller-soak.json``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from tests.controller.ctlkit import (
    K8S_SA,
    SVID_ID,
    ControllerProcess,
    UpstreamIssuer,
    Watcher,
    client_workload,
    controller_toml,
    jwks_fetcher,
    kill_platform,
    kubelet_write,
    secret_file,
    subject_workload,
    upstream_overrides,
)
from tests.harness.net import free_port
from tests.harness.platform import PlatformServer

SOAK_SECONDS = float(os.environ.get("MICROSTAX_CONTROLLER_SOAK_SECONDS", "150"))
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(SOAK_SECONDS + 240)
def test_soak_no_expired_or_partial_token_ever(
        tmp_path: Path, upstreams: tuple[UpstreamIssuer, UpstreamIssuer]) -> None:
    k8s, spire = upstreams
    out, sa_dir, svid = tmp_path / "out", tmp_path / "sa", tmp_path / "svid.jwt"
    kubelet_write(sa_dir, "token", k8s.mint(K8S_SA, lifetime=25))
    svid.write_text(spire.mint(SVID_ID, lifetime=3600))
    port = free_port()
    overrides = {"tokens": {"lifetime": 30}, **upstream_overrides(k8s, spire)}
    platform = PlatformServer(tmp_path / "platform", port=port, config_overrides=overrides).start()
    stop = threading.Event()
    subject_tokens: list[str] = []

    def kubelet() -> None:  # rotates the projected token like the kubelet, only faster
        while not stop.wait(10):
            token = k8s.mint(K8S_SA, lifetime=25)
            subject_tokens.append(token)
            kubelet_write(sa_dir, "token", token)

    rotator = threading.Thread(target=kubelet, daemon=True)
    ctl: ControllerProcess | None = None
    watcher: Watcher | None = None
    events: list[str] = []
    try:
        secret = secret_file(tmp_path, platform)
        config = tmp_path / "controller.toml"
        config.write_text(controller_toml(platform.issuer, [
            client_workload("demo", ["stx-eu-west-cluster", "stx-ap-south-cluster"], secret, out),
            subject_workload("orders-k8s", "kubernetes", sa_dir / "token", ["stx-us-east-cluster"], out),
            subject_workload("orders-svid", "spiffe", svid, ["stx-eu-west-cluster"], out),
        ]))
        files = {p: out / f"{p}.jwt" for p in (
            "demo-stx-eu-west-cluster", "demo-stx-ap-south-cluster",
            "orders-k8s-stx-us-east-cluster", "orders-svid-stx-eu-west-cluster")}
        ctl = ControllerProcess(config, tmp_path).start()
        ctl.wait_event("token_issued", count=len(files), timeout=30)
        watcher = Watcher(files, jwks_fetcher(), allow_missing=lambda name: False).start()
        rotator.start()
        t0 = time.monotonic()

        def at(fraction: float) -> None:
            time.sleep(max(0.0, t0 + SOAK_SECONDS * fraction - time.monotonic()))

        at(0.25)
        ctl.signal(signal.SIGHUP)
        events.append("sighup")
        at(0.4)
        kill_platform(platform)
        events.append("platform killed")
        time.sleep(12)
        platform.start()
        events.append("platform back")
        at(0.7)
        assert ctl.proc is not None
        os.kill(ctl.proc.pid, signal.SIGKILL)
        ctl.proc.wait(10)
        events.append("controller killed")
        ctl = ControllerProcess(config, tmp_path).start()
        events.append("controller restarted")
        at(1.0)
        status, body = ctl.health()
        assert status == 200, body
    finally:
        stop.set()
        if watcher is not None:
            watcher.stop()
        code = ctl.stop() if ctl is not None else 0
        platform.stop()
    rotations = {name: len(jtis) for name, jtis in watcher.tokens.items()}
    summary = {"seconds": SOAK_SECONDS, "reads": watcher.reads, "violations": len(watcher.violations),
               "missing_reads": sum(watcher.missing.values()), "unverified_reads": watcher.unverified,
               "tokens_seen_per_file": rotations, "subject_rotations": len(subject_tokens),
               "events": events}
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "controller-soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("controller soak:", json.dumps(summary))
    assert not watcher.violations, watcher.violations[:10]
    assert sum(watcher.missing.values()) == 0
    assert code == 0
    minimum = int(SOAK_SECONDS / 6 * 0.6)  # a rotation every ~6 s, less the outage
    assert all(count >= minimum for count in rotations.values()), (minimum, rotations)
    assert watcher.reads > SOAK_SECONDS * 20
