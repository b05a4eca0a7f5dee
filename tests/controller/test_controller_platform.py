"""The controller against the real platform (``microstax platform serve``) on loopback.

Token lifetime 30 s (the platform's minimum) with ``refresh_fraction`` 0.2, so a rotation
every ~6 s. A ``Watcher`` thread reads the output files the whole time the way a workload
does and records any moment of partial, unverifiable or expired content.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.controller.ctlkit import (
    K8S_SA,
    MICROSTAX,
    ORDERS_ID,
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
    wait_until,
)
from tests.harness.net import free_port
from tests.harness.platform import PlatformServer

from microstax.controller.files import FAULT_ENV, FAULT_EXIT_CODE
from microstax.controller.schedule import EXPIRY_MARGIN
from microstax.jose import parse


def make_platform(tmp_path: Path, upstreams: tuple[UpstreamIssuer, UpstreamIssuer] | None = None,
                   port: int = 0) -> PlatformServer:
    overrides: dict[str, Any] = {"tokens": {"lifetime": 30}}
    if upstreams is not None:
        overrides.update(upstream_overrides(*upstreams))
    return PlatformServer(tmp_path / "platform", port=port, config_overrides=overrides)


def issued(ctl: ControllerProcess, workload: str, target: str) -> list[dict[str, Any]]:
    return [e for e in ctl.events("token_issued") if e["workload"] == workload and e["target"] == target]


def assert_no_secrets_in_log(ctl: ControllerProcess, secrets: set[str]) -> None:
    text = ctl.log_path.read_text()
    assert text.strip(), "the controller logged nothing"
    for line in text.splitlines():
        json.loads(line)  # every line is one JSON object
    leaked = [s[:12] + "…" for s in secrets if s and s in text]
    assert not leaked, f"secrets or tokens in the controller log: {leaked}"


def test_rotates_before_expiry_over_many_cycles(
        tmp_path: Path, upstreams: tuple[UpstreamIssuer, UpstreamIssuer]) -> None:
    """Client-credentials and subject-token (Kubernetes, SPIFFE) entries, four clusters'
    worth of files, rotated again and again; never an expired or partial file; the renew
    hook runs exactly once per rotation; health and metrics say so; no token in the log."""
    k8s, spire = upstreams
    out = tmp_path / "out"
    sa_dir = tmp_path / "sa"
    sa_tokens = [k8s.mint(K8S_SA, lifetime=600)]
    kubelet_write(sa_dir, "token", sa_tokens[0])
    svid = tmp_path / "svid.jwt"
    svid_token = spire.mint(SVID_ID, lifetime=600)
    svid.write_text(svid_token)
    hooks = tmp_path / "hooks.log"
    with make_platform(tmp_path, upstreams) as platform:
        secret = secret_file(tmp_path, platform)
        renew = f'renew = {{command = ["/bin/sh", "-c", "echo $MICROSTAX_TARGET $MICROSTAX_TOKEN_JTI >> {hooks}"]}}\n'
        config = tmp_path / "controller.toml"
        config.write_text(controller_toml(platform.issuer, [
            client_workload("demo", ["stx-eu-west-cluster", "stx-ap-south-cluster"], secret, out, renew),
            subject_workload("orders-k8s", "kubernetes", sa_dir / "token", ["stx-us-east-cluster"], out),
            subject_workload("orders-svid", "spiffe", svid, ["stx-eu-west-cluster"], out),
        ]))
        files = {name: out / f"{name}.jwt" for name in (
            "demo-stx-eu-west-cluster", "demo-stx-ap-south-cluster",
            "orders-k8s-stx-us-east-cluster", "orders-svid-stx-eu-west-cluster")}
        ctl = ControllerProcess(config, tmp_path)
        watcher = Watcher(files, jwks_fetcher(), allow_missing=lambda name: True)
        try:
            ctl.start()
            ctl.wait_event("token_issued", count=4, timeout=30)
            watcher.allow_missing = lambda name: False  # from here on, every file is always there
            watcher.start()
            for workload, target in (("demo", "stx-eu-west-cluster"), ("demo", "stx-ap-south-cluster"),
                                     ("orders-k8s", "stx-us-east-cluster"),
                                     ("orders-svid", "stx-eu-west-cluster")):
                ctl.wait_event("token_issued", count=5, timeout=60,
                               where=lambda e, w=workload, t=target: e["workload"] == w and e["target"] == t)
            status, body = ctl.health()
            metrics = ctl.metrics()
        finally:
            watcher.stop()
            assert ctl.stop() == 0
        assert not watcher.violations, watcher.violations[:5]
        assert watcher.reads > 100
        for name, jtis in watcher.tokens.items():
            assert len(jtis) >= 3, (name, jtis)  # the workload saw the rotations
        assert status == 200 and body["ready"] and {e["status"] for e in body["entries"]} == {"ok"}
        key = 'target="stx-ap-south-cluster",workload="demo"'
        assert metrics[f"microstax_controller_tokens_issued_total{{{key}}}"] >= 5
        assert 0 < metrics[f"microstax_controller_token_expiry_seconds{{{key}}}"] <= 30
        assert metrics["microstax_controller_ready"] == 1

        # what was issued: each kind of credential gave the identity it should
        k8s_claims = parse((out / "orders-k8s-stx-us-east-cluster.jwt").read_text()).claims
        assert k8s_claims["sub"] == ORDERS_ID and k8s_claims["aud"] == "stx-us-east-cluster"
        assert k8s_claims["act"] == {"sub": f"k8s:{K8S_SA}"} and k8s_claims["scope"] == "read"
        svid_claims = parse((out / "orders-svid-stx-eu-west-cluster.jwt").read_text()).claims
        assert svid_claims["sub"] == ORDERS_ID and svid_claims["act"] == {"sub": SVID_ID}
        south = parse((out / "demo-stx-ap-south-cluster.jwt").read_text()).claims
        assert south["iss"] == platform.cluster_issuer("stx-ap-south-cluster")

        # the renew hook ran once per rotation, in order, for exactly the tokens written
        for target in ("stx-eu-west-cluster", "stx-ap-south-cluster"):
            written = [e["jti"] for e in issued(ctl, "demo", target)]
            ran = [line.split()[1] for line in hooks.read_text().splitlines() if line.split()[0] == target]
            assert ran == written
        assert_no_secrets_in_log(ctl, watcher.texts | {svid_token, *sa_tokens, platform.demo_secret})


def test_platform_outage_serves_until_expiry_then_recovers(tmp_path: Path) -> None:
    """The platform is killed for longer than the token lifetime: the current token stays
    (health ready but degraded) until just before expiry, then the file is withdrawn and
    health says 503; when the platform returns the controller recovers on its own."""
    port = free_port()
    platform = make_platform(tmp_path, port=port).start()
    out = tmp_path / "out"
    try:
        secret = secret_file(tmp_path, platform)
        config = tmp_path / "controller.toml"
        config.write_text(controller_toml(platform.issuer, [
            client_workload("demo", ["stx-eu-west-cluster"], secret, out)]))
        path = out / "demo-stx-eu-west-cluster.jwt"
        # the file may be missing from the held token's withdrawal time until recovery
        window = {"from": float("inf"), "until": float("inf")}
        watcher = Watcher({"demo": path}, jwks_fetcher(),
                          allow_missing=lambda name: window["from"] <= time.time() <= window["until"])
        ctl = ControllerProcess(config, tmp_path).start()
        try:
            ctl.wait_event("token_issued", count=2, timeout=30)
            watcher.start()
            kill_platform(platform)
            held = parse(path.read_text()).claims
            window["from"] = held["exp"] - EXPIRY_MARGIN - 0.05
            killed_at = time.time()
            # a refresh interval (~6 s) and more passes: failures, same token, still ready
            ctl.wait_event("refresh_failed", count=2, timeout=20)
            time.sleep(max(0.0, killed_at + 8 - time.time()))
            status, body = ctl.health()
            entry = body["entries"][0]
            assert status == 200 and entry["status"] == "degraded", body
            assert entry["lastError"]["cause"] == "network" and entry["token"]["jti"] == held["jti"]
            assert parse(path.read_text()).claims["jti"] == held["jti"]
            # just before exp the token is withdrawn: no expired token is ever on disk
            withdrawn = ctl.wait_event("token_withdrawn", timeout=40)
            assert withdrawn["jti"] == held["jti"] and withdrawn["removed"] is True
            assert time.time() < held["exp"] + 0.5
            assert not path.exists()
            status, body = ctl.health()
            assert status == 503 and body["entries"][0]["status"] == "expired"
            metrics = ctl.metrics()
            key = 'target="stx-eu-west-cluster",workload="demo"'
            assert metrics[f"microstax_controller_token_valid{{{key}}}"] == 0
            assert metrics[f'microstax_controller_refresh_failures_total{{cause="network",{key}}}'] >= 3
            assert metrics["microstax_controller_ready"] == 0
            # the platform comes back on the same address: recovery without any help
            platform.start()
            ctl.wait_event("token_issued", count=3, timeout=30)
            window["until"] = time.time()
            status, body = ctl.health()
            assert status == 200 and body["entries"][0]["status"] == "ok"
            assert parse(path.read_text()).claims["exp"] > time.time()
            time.sleep(1)
        finally:
            watcher.stop()
            assert ctl.stop() == 0
        assert not watcher.violations, watcher.violations[:5]
    finally:
        platform.stop()


def test_subject_file_rotation_is_picked_up(
        tmp_path: Path, upstreams: tuple[UpstreamIssuer, UpstreamIssuer]) -> None:
    """An expired subject token: not ready, cause ``subject``. kubelet rotates the projected
    token: picked up within a poll interval. Tokens keep coming after the first subject
    token expired, because each attempt reads the file anew."""
    k8s, _ = upstreams
    sa_dir = tmp_path / "sa"
    kubelet_write(sa_dir, "token", k8s.mint(K8S_SA, lifetime=-60))  # already expired
    out = tmp_path / "out"
    with make_platform(tmp_path, upstreams) as platform:
        config = tmp_path / "controller.toml"
        # a backoff far longer than the waits below: a token can only come from the retry that
        # noticing the rotated file triggers
        config.write_text(controller_toml(platform.issuer, [
            subject_workload("orders", "kubernetes", sa_dir / "token", ["stx-eu-west-cluster"], out)
            .replace("min_backoff = 0.5\nmax_backoff = 3", "min_backoff = 60\nmax_backoff = 120")]))
        ctl = ControllerProcess(config, tmp_path).start()
        try:
            failure = ctl.wait_event("refresh_failed", timeout=20)
            assert failure["cause"] == "subject" and "expired" in failure["msg"]
            status, body = ctl.health()
            assert status == 503 and body["entries"][0]["status"] == "pending"
            short_lived = k8s.mint(K8S_SA, lifetime=14)
            first_exp = parse(short_lived).claims["exp"]
            kubelet_write(sa_dir, "token", short_lived)
            got = ctl.wait_event("token_issued", timeout=30)
            # noticed by polling, and retried at once because of it (not at the next backoff)
            rotated = ctl.wait_event("credential_rotated", timeout=1)
            assert "retrying now" in rotated["msg"] and rotated["ts"] <= got["ts"], (rotated, got)
            assert len(ctl.events("refresh_failed")) == 1
            time.sleep(6)
            kubelet_write(sa_dir, "token", k8s.mint(K8S_SA, lifetime=600))  # kubelet rotates early
            ctl.wait_event("token_issued", timeout=30, where=lambda e: e["exp"] - 30 > first_exp + 1)
            failures_after = [e for e in ctl.events("refresh_failed") if e["ts"] > failure["ts"]]
            assert not failures_after, failures_after
            status, _ = ctl.health()
            metrics = ctl.metrics()
        finally:
            assert ctl.stop() == 0
        assert status == 200
        assert metrics['microstax_controller_credential_rotations_total{target="stx-eu-west-cluster",workload="orders"}'] >= 2


def test_crash_mid_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    """Killed between writing the temp file and the rename (fault point), and SIGKILLed at
    random moments: the output always parses and verifies; the next start cleans up and
    adopts the file it finds."""
    out = tmp_path / "out"
    with make_platform(tmp_path) as platform:
        secret = secret_file(tmp_path, platform)
        config = tmp_path / "controller.toml"
        config.write_text(controller_toml(platform.issuer, [
            client_workload("demo", ["stx-eu-west-cluster"], secret, out,
                            "").replace("refresh_fraction = 0.2\njitter = 0.05", "refresh_fraction = 0.1\njitter = 0.0")]))
        path = out / "demo-stx-eu-west-cluster.jwt"
        ctl = ControllerProcess(config, tmp_path, env={FAULT_ENV: "crash-before-rename@3"}).start()
        assert ctl.wait_exit(timeout=60) == FAULT_EXIT_CODE
        written = issued(ctl, "demo", "stx-eu-west-cluster")
        assert len(written) == 2
        assert parse(path.read_text()).claims["jti"] == written[-1]["jti"]  # the old file, intact
        temps = [p for p in out.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and parse(temps[0].read_text())  # the new one, never renamed

        watcher = Watcher({"demo": path}, jwks_fetcher(), allow_missing=lambda name: False).start()
        try:
            ctl = ControllerProcess(config, tmp_path).start()
            ctl.wait_event("stale_temp_removed", timeout=10)
            adopted = ctl.wait_event("token_adopted", timeout=10)
            assert adopted["jti"] == written[-1]["jti"]
            ctl.wait_event("token_issued", timeout=20)
            assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
            rng = random.Random(1)
            for _ in range(4):  # SIGKILL at random moments, writes included
                time.sleep(rng.uniform(0.5, 3.5))
                assert ctl.proc is not None
                os.kill(ctl.proc.pid, signal.SIGKILL)
                ctl.proc.wait(10)
                ctl = ControllerProcess(config, tmp_path).start()
            ctl.wait_event("token_issued", timeout=20)
            assert ctl.stop() == 0
        finally:
            watcher.stop()
        assert not watcher.violations, watcher.violations[:5]
        assert watcher.reads > 50


def test_sighup_reloads_and_sigterm_exits_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with make_platform(tmp_path) as platform:
        secret = secret_file(tmp_path, platform)
        config = tmp_path / "controller.toml"
        one = client_workload("demo", ["stx-eu-west-cluster"], secret, out)
        config.write_text(controller_toml(platform.issuer, [one]))
        ctl = ControllerProcess(config, tmp_path).start()
        try:
            ctl.wait_event("token_issued", timeout=20)
            config.write_text(controller_toml(platform.issuer, [
                one, client_workload("extra", ["stx-us-east-cluster"], secret, out)]))
            ctl.signal(signal.SIGHUP)
            reloaded = ctl.wait_event("config_reloaded", timeout=10)
            assert reloaded["added"] == ["extra/stx-us-east-cluster"]
            assert reloaded["kept"] == ["demo/stx-eu-west-cluster"]
            wait_until(lambda: (out / "extra-stx-us-east-cluster.jwt").exists(), 20, what="new file")
            config.write_text("[[workload]\nbroken")
            ctl.signal(signal.SIGHUP)
            ctl.wait_event("config_reload_failed", timeout=10)
            assert ctl.health()[0] == 200  # still running the old config
            config.write_text(controller_toml(platform.issuer, [one]))
            ctl.signal(signal.SIGHUP)
            ctl.wait_event("config_reloaded", count=2, timeout=10)
            wait_until(lambda: not (out / "extra-stx-us-east-cluster.jwt").exists(), 10,
                       what="removed entry's file to go")
            reloads = ctl.metrics()
            assert reloads['microstax_controller_config_reloads_total{result="ok"}'] == 2
            assert reloads['microstax_controller_config_reloads_total{result="error"}'] == 1
        finally:
            code = ctl.stop()
        assert code == 0
        assert ctl.events("controller_stopped")
        assert parse((out / "demo-stx-eu-west-cluster.jwt").read_text())  # left in place


def test_check_and_bad_config_exit_codes(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(controller_toml("http://127.0.0.1:9", [
        '[[workload]]\nname = "w"\ntargets = ["a", "b"]\noutput = "/tmp/x/{target}.jwt"\n'
        'subject = {type = "spiffe", file = "/run/svid.jwt"}\n']))
    result = subprocess.run([str(MICROSTAX), "identity", "controller", "--config", str(config), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [e["output"] for e in doc["entries"]] == ["/tmp/x/a.jwt", "/tmp/x/b.jwt"]
    assert [e["caFile"] for e in doc["entries"]] == [None, None]
    config.write_text('[[workload]]\nname = "w"\nissuer = "http://127.0.0.1:9"\ntargets = ["a"]\n'
                      'output = "/tmp/x.jwt"\nclient = {id = "c", secret = "hunter2"}\n')
    result = subprocess.run([str(MICROSTAX), "identity", "controller", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 6
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["event"] == "config_invalid" and "workload[0].client.secret" in line["msg"]
    assert "hunter2" not in result.stderr
    with socket.socket() as busy:  # the health port is taken: a config problem, said once
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        config.write_text(controller_toml("http://127.0.0.1:9", [
            '[[workload]]\nname = "w"\ntargets = ["a"]\noutput = "x.jwt"\nsubject = {file = "s"}\n'],
            listen=f"127.0.0.1:{busy.getsockname()[1]}"))
        result = subprocess.run([str(MICROSTAX), "identity", "controller", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 6, result.stderr
    assert "cannot listen on 127.0.0.1:" in json.loads(result.stderr.strip().splitlines()[-1])["msg"]

