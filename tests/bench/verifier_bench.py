"""Verifier service throughput and added latency, against nginx in the same run (wrk, Debian).

Everything on loopback, started here: a real platform (its keys sign the tokens and serve the
JWKS the verifier caches), ``microstax verifier serve`` twice (verified-token cache off, so every
request checks both signatures; and cache on), and one nginx with three servers: a static
upstream (``return 200``), a plain reverse proxy to it, and the same proxy behind
``auth_request`` to the verifier.

Measured (wrk, 1 thread, 32 connections, rounds interleaved, best round kept):

* baseline: nginx proxying to the upstream without authentication;
* the verifier alone, distinct tokens (cache off): its requests/s as a ratio to the baseline
  (goal >= 0.5x);
* the verifier alone, one token again and again (cache on: the cached-token path);
* nginx + auth_request + verifier, distinct tokens, end to end (informational);
* a bare uvicorn hello world (tests/bench/hello_asgi.py, same server settings): the ceiling of
  any Python ASGI service here, so the cached-token row can be read against it;
* p99 latency added by auth_request + verifier at a fixed rate (200 req/s, open loop), from
  the same client against nginx with and without authentication.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tests.harness.net import free_port
from tests.harness.platform import PlatformServer
from tests.harness.processes import spawn, stop_process_group
from tests.harness.receivers import (
    NGINX,
    NGINX_AUTHZ_LOCATION,
    VerifierProcess,
    nginx_main_config,
    wait_port,
)

from microstax.jose import KeyStore, sign

from .report import Report, Row

CLUSTER = "stx-eu-west-cluster"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
DISTINCT_TOKENS = 2000
SECONDS = 5
ROUNDS = 2
CONNECTIONS = 32
FIXED_RATE = 200
FIXED_SECONDS = 10

_LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "%s", {["Authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1]})
end
"""


def _sign_batch(args: tuple[str, dict[str, Any], int, int]) -> list[str]:
    key_dir, claims, start, count = args
    signer = KeyStore(Path(key_dir)).load().signer
    return [sign({**claims, "jti": f"bench-{i}"}, signer) for i in range(start, start + count)]


def make_tokens(platform: PlatformServer, count: int) -> list[str]:
    now = int(time.time())
    claims = {"iss": platform.issuer, "sub": "spiffe://dev.microstax.local/env/dev/svc/default",
              "aud": CLUSTER, "client_id": "demo-workload", "scope": "read write", "env": "dev",
              "cluster": CLUSTER, "iat": now, "exp": now + 3600}
    half = count // 2
    with ProcessPoolExecutor(2) as pool:
        parts = pool.map(_sign_batch, [(str(platform.data_dir), claims, 0, half),
                                       (str(platform.data_dir), claims, half, count - half)])
        return [t for part in parts for t in part]


def nginx_conf(prefix: Path, upstream: int, plain: int, authed: int, verifier: int) -> str:
    return nginx_main_config(prefix, f"""\
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    upstream microstax_verifier {{ server 127.0.0.1:{verifier}; keepalive 64; }}
    server {{ listen 127.0.0.1:{upstream}; location / {{ return 200 "ok\\n"; }} }}
    server {{
        listen 127.0.0.1:{plain};
        location / {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://app; }}
    }}
    server {{
        listen 127.0.0.1:{authed};
        location / {{
            auth_request /_microstax_authz;
            auth_request_set $ms_subject $upstream_http_x_microstax_subject;
            proxy_set_header X-Microstax-Subject $ms_subject;
            proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://app;
        }}
{NGINX_AUTHZ_LOCATION}    }}
""", worker_connections=4096)


def wrk(url: str, script: Path | None, seconds: int = SECONDS) -> tuple[float, int]:
    """(requests/s, non-2xx responses)."""
    args = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def fixed_rate_latencies(port: int, tokens: list[str] | None, rate: int, seconds: int) -> list[float]:
    """Open loop on one keep-alive connection: send at fixed times, record each latency (s)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    interval = 1.0 / rate
    start = time.perf_counter()
    out: list[float] = []
    for i in range(rate * seconds):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else {}
        t0 = time.perf_counter()
        conn.request("GET", "/api/things", headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"fixed-rate request got {r.status}")
        out.append(time.perf_counter() - max(t0, due))
    conn.close()
    return out


def crypto_floor(platform: PlatformServer, tokens: list[str]) -> float:
    """Verifications per second of ``jose.verify`` alone (both signatures, no HTTP), one core."""
    import httpx

    from microstax.jose import KeySet, Policy, verify

    docs = [httpx.get(f"{platform.issuer}/{name}", timeout=30).json()
            for name in ("jwks.json", "pq-jwks.json")]
    keys = KeySet.from_jwks({"keys": [k for d in docs for k in d["keys"]]})
    policy = Policy(issuer=platform.issuer, audience=CLUSTER, require_pq=True)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for token in tokens:
            verify(token, keys, policy)
        best = min(best, (time.perf_counter() - t0) / len(tokens))
    return 1.0 / best


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def run(options: Any) -> Report:
    report = Report("verifier", "Verifier service (Envoy/nginx ext auth) vs nginx proxying")
    with tempfile.TemporaryDirectory(prefix="microstax-verifier-bench-") as tmp_s:
        tmp = Path(tmp_s)
        with PlatformServer(tmp / "platform") as platform:
            tokens = make_tokens(platform, DISTINCT_TOKENS)
            token_file = tmp / "tokens.txt"
            token_file.write_text("\n".join(tokens) + "\n")
            base = {"issuers": [{"issuer": platform.issuer}],
                    "routes": [{"prefix": "/", "audience": CLUSTER, "cluster": CLUSTER}]}
            nocache = VerifierProcess(tmp / "v-nocache", {**base, "server": {
                "audit": "audit.log", "cache_entries": 0}})
            cached = VerifierProcess(tmp / "v-cached", {**base, "server": {"audit": "audit.log"}})
            workers = VerifierProcess(tmp / "v-workers", {**base, "server": {
                "audit": "audit.log", "cache_entries": 0}}, extra_args=("--workers", "2"))
            floor = crypto_floor(platform, tokens)
            with nocache, cached, workers:
                upstream, plain, authed = free_port(), free_port(), free_port()
                prefix = tmp / "nginx"
                (prefix / "tmp").mkdir(parents=True)
                conf = prefix / "nginx.conf"
                conf.write_text(nginx_conf(prefix, upstream, plain, authed, nocache.port))
                nginx = spawn([NGINX, "-c", str(conf), "-p", str(prefix)], prefix / "nginx.out")
                hello_port = free_port()
                hello_log = tmp / "hello.log"
                hello = spawn([sys.executable, "-m", "tests.bench.hello_asgi", str(hello_port)], hello_log,
                              cwd=Path(__file__).resolve().parents[2])
                try:
                    for port in (upstream, plain, authed):
                        wait_port(port, nginx, prefix / "error.log", "nginx")
                    wait_port(hello_port, hello, hello_log, "uvicorn hello world")
                    distinct = tmp / "distinct.lua"
                    distinct.write_text(_LUA % (token_file, "/authz/api/things"))
                    through = tmp / "through.lua"
                    through.write_text(_LUA % (token_file, "/api/things"))
                    one = tmp / "one.txt"
                    one.write_text(tokens[0] + "\n")
                    same = tmp / "same.lua"
                    same.write_text(_LUA % (one, "/authz/api/things"))
                    # warm-up: JWKS fetched and cached, connections open
                    wrk(f"{nocache.url}/", distinct, 1)
                    wrk(f"{cached.url}/", same, 1)
                    wrk(f"{workers.url}/", distinct, 2)
                    wrk(f"http://127.0.0.1:{authed}/", through, 1)
                    wrk(f"http://127.0.0.1:{hello_port}/", same, 1)
                    results: dict[str, list[float]] = {k: [] for k in
                                                       ("base", "hello", "distinct", "workers", "cached", "e2e")}
                    bad = 0
                    for _ in range(ROUNDS):
                        for key, url, script in (
                                ("base", f"http://127.0.0.1:{plain}/api/things", None),
                                ("hello", f"http://127.0.0.1:{hello_port}/authz/api/things", same),
                                ("distinct", f"{nocache.url}/", distinct),
                                ("workers", f"{workers.url}/", distinct),
                                ("cached", f"{cached.url}/", same),
                                ("e2e", f"http://127.0.0.1:{authed}/", through)):
                            rps, errors = wrk(url, script)
                            results[key].append(rps)
                            bad += errors
                    best = {k: max(v) for k, v in results.items()}
                    lat_plain = fixed_rate_latencies(plain, None, FIXED_RATE, FIXED_SECONDS)
                    lat_auth = fixed_rate_latencies(authed, tokens, FIXED_RATE, FIXED_SECONDS)
                finally:
                    stop_process_group(nginx)
                    stop_process_group(hello)
    ratio = best["distinct"] / best["base"]
    report.rows += [
        Row("nginx proxying, no authentication (baseline)", f"{best['base']:,.0f} req/s"),
        Row("verifier, distinct tokens (both signatures each request)",
            f"{best['distinct']:,.0f} req/s = {ratio:.2f}x baseline", ">= 0.5x", ratio >= 0.5),
        Row("verifier --workers 2, distinct tokens", f"{best['workers']:,.0f} req/s = "
            f"{best['workers'] / best['base']:.2f}x baseline"),
        Row("crypto floor: jose.verify alone, both signatures, one core",
            f"{floor:,.0f} verifications/s = {floor / best['base']:.2f}x baseline; the verifier "
            f"(1 process) reaches {best['distinct'] / floor:.2f} of it"),
        Row("uvicorn hello world (uvloop + httptools, 1 process; the Python ceiling)",
            f"{best['hello']:,.0f} req/s = {best['hello'] / best['base']:.2f}x baseline"),
        Row("verifier, cached token", f"{best['cached']:,.0f} req/s = "
            f"{best['cached'] / best['base']:.2f}x baseline = "
            f"{best['cached'] / best['hello']:.2f}x the hello world"),
        Row("nginx + auth_request + verifier, distinct tokens",
            f"{best['e2e']:,.0f} req/s = {best['e2e'] / best['base']:.2f}x baseline"),
        Row(f"p99 added by auth_request + verifier at {FIXED_RATE} req/s",
            f"{(p99(lat_auth) - p99(lat_plain)) * 1000:.2f} ms (p99 {p99(lat_auth) * 1000:.2f} ms vs "
            f"{p99(lat_plain) * 1000:.2f} ms; p50 added "
            f"{(statistics.median(lat_auth) - statistics.median(lat_plain)) * 1000:.2f} ms)"),
    ]
    report.notes += [
        f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, best of {ROUNDS} interleaved rounds; wrk, nginx "
        "(1 worker) and the verifier (1 process, uvloop + httptools) share the machine's cores.",
        f"{DISTINCT_TOKENS} distinct hybrid tokens signed with the platform's keys; the "
        "verified-token cache is off for the distinct runs, so every request checks ES256 and "
        "ML-DSA-65; the JWKS is cached (fetched once).",
        f"non-2xx answers during the runs: {bad} (must be 0).",
        f"fixed rate: {FIXED_RATE} req/s for {FIXED_SECONDS}s on one keep-alive connection, open "
        "loop (latency counted from the scheduled send time).",
    ]
    report.notes.append(
        "The >= 0.5x goal is out of reach by construction here: verifying ES256 + ML-DSA-65 "
        "alone (the crypto floor row, no HTTP at all) is a tenth of what nginx proxies or less; "
        "the gap between the verifier's row and the floor is its own HTTP and policy overhead. "
        "A cached token is bounded by the hello-world row: uvicorn's own per-request cost "
        f"already gives {best['hello'] / best['base']:.2f}x of nginx here. "
        "--workers 2 does not help on 2 cores shared with wrk and nginx. Figures swing with "
        "the machine's load (other engineers' builds share the 2 cores).")
    if bad:
        report.rows.append(Row("all answers 200", f"{bad} were not", "0", False))
    return report
