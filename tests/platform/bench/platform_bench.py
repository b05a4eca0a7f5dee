# ruff: noqa: RUF001
"""Platform bench: issuance throughput over HTTP vs the signing floor and vs Keycloak; soak.

    .venv/bin/python tests/platform/bench/platform_bench.py [--seconds 30] [--rounds 3] [--soak 180]
        [--no-keycloak] [--json results.json]

* floor: ES256 + ML-DSA-65 hybrid signatures per second, one signing process per core (what
  issuance can never beat), measured in this run.
* platform: ``client_credentials`` grants/s over HTTP on loopback against
  ``microstax platform serve --workers <cores>`` (client_secret_basic, audit log on), driven by
  wrk (C; a few % of a core) with keep-alive connections. Goal: >= 0.6 x floor.
* keycloak: the same client-credentials load (client_secret_basic, same wrk settings) against
  the real Keycloak started by tests/harness/keycloak.py. Goal: platform >= 3 x Keycloak.
* soak: sustained platform load for ``--soak`` seconds: 5xx count (goal 0) and the RSS of the
  server processes sampled every 10 s (goal: flat; reported as first/last/max and growth of
  the second half).

Results are ratios measured in the same run, never absolute timings in a test. Every load
is bounded in time and goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&audience=__AUD__"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic __BASIC__"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) s2 = 0; s4 = 0; s5 = 0; other = 0 end
function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1 elseif status >= 400 then s4 = s4 + 1
  elseif status >= 200 and status < 300 then s2 = s2 + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b, c, d = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2"); b = b + t:get("s4"); c = c + t:get("s5"); d = d + t:get("other")
  end
  io.write(string.format("MXSTATUS %d %d %d %d\n", a, b, c, d))
  io.write(string.format("MXLAT %.3f %.3f %.3f\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


# -- the signing floor --------------------------------------------------------------------
def _sign_worker(seconds: float, queue: Any) -> None:
    from microstax.jose import HybridSigner, sign

    signer = HybridSigner.generate()
    claims = {"iss": "http://127.0.0.1:8411", "sub": "spiffe://dev.microstax.local/env/dev/svc/default",
              "aud": "stx-eu-west-cluster", "iat": 0, "exp": 300, "jti": "x" * 24,
              "client_id": "demo-workload", "scope": "read write", "env": "dev",
              "cluster": "stx-eu-west-cluster"}
    for _ in range(20):
        sign(claims, signer)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sign(claims, signer)
        n += 1
    queue.put(n / (time.perf_counter() - start))


def signing_floor(seconds: float, procs: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_sign_worker, args=(seconds, queue)) for _ in range(procs)]
    for w in workers:
        w.start()
    rates = [queue.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join()
    return sum(rates)


# -- load ---------------------------------------------------------------------------------
def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "wrk"], check=True,
                   capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    path = shutil.which("wrk")
    assert path, "wrk did not install"
    return path


def run_wrk(url: str, basic: str, audience: str, seconds: float, *, connections: int = 16,
            threads: int = 1) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.replace("__AUD__", audience).replace("__BASIC__", basic))
        script = f.name
    try:
        out = subprocess.run([ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d",
                              f"{int(seconds)}s", "--timeout", "10s", "-s", script, url],
                             capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    finally:
        os.unlink(script)
    status = re.search(r"MXSTATUS (\d+) (\d+) (\d+) (\d+)", out)
    lat = re.search(r"MXLAT ([\d.]+) ([\d.]+) ([\d.]+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    assert status and lat and rps, out
    ok, s4, s5, other = (int(x) for x in status.groups())
    return {"requests_per_s": float(rps.group(1)), "ok_per_s": ok / seconds, "ok": ok, "4xx": s4,
            "5xx": s5, "other": other, "p50_ms": float(lat.group(1)), "p99_ms": float(lat.group(2)),
            "max_ms": float(lat.group(3)), "socket_errors": errors.group(1) if errors else None}


def _basic(client_id: str, secret: str) -> str:
    import base64
    from urllib.parse import quote

    return base64.b64encode(f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()).decode()


def _rss_kib(root_pid: int) -> int:
    """RSS of a process and all its descendants (the uvicorn supervisor and workers)."""
    total, pids = 0, [root_pid]
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except (FileNotFoundError, AttributeError, ProcessLookupError):
            continue
        pids.extend(int(c) for c in children)
    return total


# -- the runs -----------------------------------------------------------------------------
def _sum_runs(runs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    total = {k: sum(r[k] for r in runs) for k in ("ok", "4xx", "5xx", "other")}
    return {**total, "ok_per_s": round(total["ok"] / seconds, 1),
            "p50_ms": round(sorted(r["p50_ms"] for r in runs)[len(runs) // 2], 1),
            "p99_ms": round(max(r["p99_ms"] for r in runs), 1), "rounds": len(runs)}


def soak_platform(server: Any, basic: str, seconds: float) -> dict[str, Any]:
    assert server.process is not None
    samples: list[tuple[float, int]] = []
    totals = {"ok": 0, "4xx": 0, "5xx": 0, "other": 0}
    start = time.monotonic()
    samples.append((0.0, _rss_kib(server.process.pid)))
    while time.monotonic() - start < seconds:
        chunk = min(10.0, seconds - (time.monotonic() - start))
        if chunk < 1:
            break
        r = run_wrk(server.token_endpoint, basic, "stx-eu-west-cluster", chunk)
        for k in totals:
            totals[k] += r[k]
        samples.append((round(time.monotonic() - start, 1), _rss_kib(server.process.pid)))
    elapsed = time.monotonic() - start
    rss = [s[1] for s in samples[1:]] or [samples[0][1]]
    half = rss[len(rss) // 2:]
    return {"seconds": round(elapsed, 1), **totals, "ok_per_s": round(totals["ok"] / elapsed, 1),
            "rss_kib_first": rss[0], "rss_kib_last": rss[-1], "rss_kib_max": max(rss),
            "rss_growth_second_half_pct": round(100.0 * (half[-1] - half[0]) / half[0], 2),
            "samples": samples}


def run_all(seconds: float, rounds: int, soak: float, workers: int, keycloak: bool) -> dict[str, Any]:
    """Floor, platform and Keycloak measured in interleaved rounds (so background load on a
    shared machine weighs on every side of the ratios alike), then the soak."""
    from tests.harness.platform import PlatformServer

    cores = os.cpu_count() or 2
    data = Path(tempfile.mkdtemp(prefix="microstax-platform-bench-"))
    overrides = {"limits": {"rate_per_second": 1_000_000, "rate_burst": 1_000_000,
                            "address_rate_per_second": 1_000_000, "address_burst": 1_000_000}}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(PlatformServer(data / "platform", config_overrides=overrides,
                                                    workers=workers))
        basic = _basic("demo-workload", server.demo_secret)
        kc = kc_basic = None
        if keycloak:
            from tests.harness.keycloak import (
                EXCHANGER_CLIENT_ID,
                EXCHANGER_CLIENT_SECRET,
                KeycloakServer,
            )
            kc = stack.enter_context(KeycloakServer())
            kc_basic = _basic(EXCHANGER_CLIENT_ID, EXCHANGER_CLIENT_SECRET)
            run_wrk(kc.token_endpoint, kc_basic, "stx-kc-cluster", 15)  # JIT warm-up
        run_wrk(server.token_endpoint, basic, "stx-eu-west-cluster", 3)  # warm-up
        floors: list[float] = []
        plat: list[dict[str, Any]] = []
        kcs: list[dict[str, Any]] = []
        per = seconds / rounds
        for _ in range(rounds):
            floors.append(signing_floor(per, cores))
            plat.append(run_wrk(server.token_endpoint, basic, "stx-eu-west-cluster", per))
            if kc is not None and kc_basic is not None:
                kcs.append(run_wrk(kc.token_endpoint, kc_basic, "stx-kc-cluster", per))
        result: dict[str, Any] = {"cores": cores, "workers": workers,
                                  "signing_floor_per_s": round(sum(floors) / len(floors), 1),
                                  "signing_floor_rounds": [round(f, 1) for f in floors],
                                  "platform": _sum_runs(plat, seconds)}
        if kc is not None:
            result["keycloak"] = {**_sum_runs(kcs, seconds), "version": kc.version}
            kc.stop()
        if soak > 0:
            result["soak"] = soak_platform(server, basic, soak)
    shutil.rmtree(data, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="total length of each side's load")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--soak", type=float, default=180.0, help="soak length in seconds (0: none)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-keycloak", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the 'platform' block of docs/performance.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    report = run_all(args.seconds, args.rounds, args.soak, args.workers, not args.no_keycloak)
    floor, load = report["signing_floor_per_s"], report["platform"]
    report["ratio_to_floor"] = round(load["ok_per_s"] / floor, 3)
    report["goal_ratio_to_floor"] = 0.6
    lines = [
        f"platform bench ({report['cores']} cores, {args.rounds} interleaved rounds)",
        f"  signing floor (ES256 + ML-DSA-65, one process per core): {floor:8.1f} tokens/s",
        f"  platform client_credentials over HTTP ({report['workers']} workers): {load['ok_per_s']:8.1f} grants/s "
        f"(p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, 5xx {load['5xx']})",
        f"  ratio to floor: {report['ratio_to_floor']:.3f} (goal >= 0.6)",
    ]
    if "keycloak" in report:
        kc = report["keycloak"]
        report["ratio_to_keycloak"] = round(load["ok_per_s"] / max(kc["ok_per_s"], 0.001), 2)
        report["goal_ratio_to_keycloak"] = 3.0
        lines += [f"  keycloak {kc['version']} client_credentials: {kc['ok_per_s']:8.1f} grants/s "
                  f"(p50 {kc['p50_ms']:.1f} ms, 4xx {kc['4xx']}, 5xx {kc['5xx']})",
                  f"  ratio to keycloak: {report['ratio_to_keycloak']:.2f}x (goal >= 3x)"]
    if "soak" in report:
        s = report["soak"]
        lines += [f"  soak {s['seconds']:.0f}s: {s['ok']} ok, {s['4xx']} 4xx, {s['5xx']} 5xx, "
                  f"{s['ok_per_s']} grants/s; RSS {s['rss_kib_first'] // 1024}->{s['rss_kib_last'] // 1024} MiB "
                  f"(max {s['rss_kib_max'] // 1024}, second half {s['rss_growth_second_half_pct']:+.2f}%)"]
    missed = [goal for goal, ok in goals(report)]
    lines.append("  goals: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.write_docs:
        from tests.bench.report import write_section

        write_section(REPO / "docs" / "performance.md", "platform", markdown(report, args, load_before))
        print("  wrote the 'platform' block of docs/performance.md")
    return 1 if missed else 0


def goals(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """The goals that were missed (name, False)."""
    checks = [("platform >= 0.6 x signing floor", report["ratio_to_floor"] >= 0.6),
              ("platform 5xx == 0", report["platform"]["5xx"] == 0)]
    if "ratio_to_keycloak" in report:
        checks.append(("platform >= 3 x Keycloak", report["ratio_to_keycloak"] >= 3.0))
    if "soak" in report:
        soak = report["soak"]
        checks.append(("soak 5xx == 0", soak["5xx"] == 0))
        checks.append(("soak memory flat (< 5 % growth over the second half)",
                       soak["rss_growth_second_half_pct"] < 5.0))
    return [(name, ok) for name, ok in checks if not ok]


def markdown(report: dict[str, Any], args: argparse.Namespace, load_before: float) -> str:
    import datetime
    import platform as pyplatform

    import cryptography

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    floor, load = report["signing_floor_per_s"], report["platform"]
    rows = [
        "| run | result |", "| --- | --- |",
        f"| signing floor (ES256 + ML-DSA-65, {report['cores']} processes) | {floor} tokens/s "
        f"(rounds {' / '.join(str(f) for f in report['signing_floor_rounds'])}) |",
        f"| platform `client_credentials` over HTTP ({report['workers']} workers, wrk, 16 connections) | "
        f"{load['ok_per_s']} grants/s, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, {load['5xx']} 5xx "
        f"→ **{report['ratio_to_floor']} × floor** (goal ≥ 0.6) |",
    ]
    if "keycloak" in report:
        kc = report["keycloak"]
        rows.append(f"| Keycloak {kc['version']} (dev mode), same load | {kc['ok_per_s']} grants/s, "
                    f"p50 {kc['p50_ms']} ms → platform **{report['ratio_to_keycloak']} ×** Keycloak (goal ≥ 3) |")
    if "soak" in report:
        s = report["soak"]
        rows.append(f"| soak, {s['seconds']:.0f} s sustained | {s['ok']} grants, {s['4xx']} 4xx, {s['5xx']} 5xx; "
                    f"server RSS {s['rss_kib_first'] / 1024:.1f} → {s['rss_kib_last'] / 1024:.1f} MiB "
                    f"({s['rss_growth_second_half_pct']:+.2f} % over the second half) |")
    return "\n".join([
        "### The platform: issuance over HTTP, vs the signing floor and Keycloak; soak",
        "",
        f"Measured {when} on {report['cores']} cores (load average {load_before:.1f} at the start), "
        f"Python {pyplatform.python_version()}, cryptography {cryptography.__version__}; "
        f"`scripts/bench platform -- --seconds {args.seconds:g} --rounds {args.rounds} --soak {args.soak:g}`.",
        "",
        *rows,
        "",
        "- floor, platform and Keycloak run in interleaved rounds, so a shared machine's background load "
        "weighs on every side of the ratios alike",
        "- the platform answers with client_secret_basic authentication, the per-client and per-address "
        "rate limits in force (raised above the load), and the audit log written",
    ])


if __name__ == "__main__":
    sys.exit(main())
