# ruff: noqa: RUF001, RUF002
"""daemon section: the language server as the editor sees it, through one LSP client over stdio.

* hover: ``textDocument/hover`` on a JWT in a 5 MiB log holding 1,000 JWTs (600 hybrid, 400
  ES256-only, from an issuer whose keys the daemon has cached), a different token each time,
  vs the baseline: an empty hover round trip (an empty document) through the same client.
  Goal: ≤ 2×. The daemon verifies an open document's tokens in the background (a pass that
  yields to every request), so the hover locates the token, parses it, takes the verdict from
  the cache and renders the card; the bench waits for that pass (the daemon idle) first.
  Also reported: the same token again, a hover in the big document off any token (locating
  only), and ``microstax.verify`` of one of the tokens (keys cached): the cost of a verdict
  computed on the spot, which a hover pays when it comes before the background pass.
* federate: ``microstax.federate`` served warm (the daemon's token cache) vs cold (``force``:
  a real token exchange at the platform on loopback, verified on receipt), and the very first
  federate of a fresh daemon. Informational; the real OS keyring holds the session (a private
  desktop session is started for the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from microstax.jose import HybridSigner
from microstax.jose.compact import b64url_encode

from .report import Report, Row
from .timing import Timing, us

REPO = Path(__file__).resolve().parents[2]
HOVER_GOAL = 2.0
DOC_BYTES = 5 * 1024 * 1024
TOKENS = 1000
HYBRID_SHARE = 0.6


# -- the client ----------------------------------------------------------------------------------
async def start_daemon(env: dict[str, str]) -> LanguageClient:
    client = LanguageClient("microstax-bench", "1")
    for method in (types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, types.WINDOW_LOG_MESSAGE, types.WINDOW_SHOW_MESSAGE,
                   "microstax/identityChanged", "microstax/clusterStateChanged", "microstax/loginPrompt"):
        client.feature(method)(lambda params: None)
    await client.start_io(sys.executable, "-m", "microstax", "daemon", env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"logLevel": "warn", "diagnostics": False}))
    client.initialized(types.InitializedParams())
    # the daemon's stderr must keep flowing, or it blocks once the pipe is full
    server = client._server
    if server is not None and server.stderr is not None:
        async def drain() -> None:
            while await server.stderr.read(65536):
                pass
        client._microstax_drain = asyncio.ensure_future(drain())  # type: ignore[attr-defined]
    return client


async def stop_daemon(client: LanguageClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.stop(), 10)


def open_doc(client: LanguageClient, uri: str, text: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="log", version=1, text=text)))


async def hover(client: LanguageClient, uri: str, line: int, character: int) -> types.Hover | None:
    return await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character)))


async def command(client: LanguageClient, name: str, arg: dict[str, Any]) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=[arg]))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_idle(client: LanguageClient, *, quiet: float = 0.05, timeout: float = 120.0) -> None:
    """Until the daemon used (almost) no CPU for a second: its background pass is done."""
    server = client._server
    if server is None:
        return
    deadline = time.monotonic() + timeout
    last = cpu_seconds(server.pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = cpu_seconds(server.pid)
        if now - last <= quiet:
            return
        last = now


async def interleaved_async(candidates: dict[str, Callable[[], Awaitable[object]]], *,
                            rounds: int, warmup: int = 5) -> dict[str, Timing]:
    """``timing.interleaved`` for coroutines: candidates alternate call by call."""
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            await candidates[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = clock()
            await candidates[name]()
            samples[name].append(clock() - start)
    return {name: Timing(min(s), statistics.median(s)) for name, s in samples.items()}


# -- the document ---------------------------------------------------------------------------------
def classical_only(signer: HybridSigner, claims: dict[str, Any]) -> str:
    header = b64url_encode(json.dumps({"alg": "ES256", "typ": "JWT", "kid": signer.classical.kid}).encode())
    payload = b64url_encode(json.dumps(claims).encode())
    signature = b64url_encode(signer.classical.sign(f"{header}.{payload}".encode()))
    return f"{header}.{payload}.{signature}"


def big_log(issuer: Any, signer: HybridSigner) -> tuple[str, list[tuple[int, int]], tuple[int, int]]:
    """(a 5 MiB log with the tokens spread evenly through it, the (line, character) of the
    middle of each token, a position off any token)."""
    from microstax.jose import sign

    rng = random.Random(7)
    now = int(time.time())
    token_lines: list[tuple[str, int]] = []
    for i in range(TOKENS):
        claims = {"iss": issuer.url, "sub": f"spiffe://dev.microstax.local/env/dev/svc/s{i}",
                  "aud": "stx-eu-west-cluster", "iat": now, "exp": now + 3600, "jti": f"j{i}",
                  "scope": "payments:read", "act": {"sub": "dev"}}
        token = sign(claims, signer) if i < TOKENS * HYBRID_SHARE else classical_only(signer, claims)
        prefix = f'2026-01-01T00:00:{i % 60:02d}Z INFO req={i} authorization="Bearer '
        token_lines.append((f'{prefix}{token}" path=/api/v1/items/{rng.randrange(10**6)} status=200',
                            len(prefix) + len(token) // 2))
    filler = "2026-01-01T00:00:00Z DEBUG cache hit ratio=0.93 pool=idle connections=12 queue=0 " * 2
    size = sum(len(line) + 1 for line, _ in token_lines)
    gaps = max(0, (DOC_BYTES - size) // (len(filler) + 1))
    per, extra = divmod(gaps, TOKENS)
    out: list[str] = []
    positions: list[tuple[int, int]] = []
    for i, (line, col) in enumerate(token_lines):
        out.extend([filler] * (per + (1 if i < extra else 0)))
        positions.append((len(out), col))
        out.append(line)
    off_token = (positions[TOKENS // 2][0] - 1, 10) if gaps else (positions[0][0], 3)
    return "\n".join(out), positions, off_token


# -- sections ---------------------------------------------------------------------------------------
async def hover_bench(rounds: int, env: dict[str, str]) -> tuple[list[Row], list[str]]:
    sys.path.insert(0, str(REPO))
    from tests.daemon.issuer import local_issuer

    notes: list[str] = []
    with local_issuer() as issuer:
        signer = issuer.signer
        text, positions, off = big_log(issuer, signer)
        client = await start_daemon(env)
        try:
            open_doc(client, "file:///bench/empty.log", "")
            open_doc(client, "file:///bench/big.log", text)
            # trust the issuer and cache its keys, as after a "Verify Token" (or a configured one)
            first_line = text.split("\n", positions[0][0] + 1)[positions[0][0]]
            first_token = first_line.split("Bearer ", 1)[1].split('"', 1)[0]
            result = await command(client, "microstax.verify", {"token": first_token})
            assert result["valid"], result
            h = await hover(client, "file:///bench/big.log", *positions[1])
            assert h is not None and "✓ verified" in h.contents.value, h
            assert await hover(client, "file:///bench/empty.log", 0, 0) is None
            assert await hover(client, "file:///bench/big.log", *off) is None

            order = iter(list(range(2, TOKENS)) * (rounds // TOKENS + 2))
            fixed = positions[1]

            async def empty() -> object:
                return await hover(client, "file:///bench/empty.log", 0, 0)

            async def on_token() -> object:
                return await hover(client, "file:///bench/big.log", *positions[next(order)])

            async def again() -> object:
                return await hover(client, "file:///bench/big.log", *fixed)

            async def off_token() -> object:
                return await hover(client, "file:///bench/big.log", *off)

            async def verify_now() -> object:
                return await command(client, "microstax.verify", {"token": first_token})

            await wait_idle(client)
            t = await interleaved_async({"empty": empty, "token": on_token, "again": again, "off": off_token,
                                         "verify": verify_now}, rounds=min(rounds, TOKENS - 10))
        finally:
            await stop_daemon(client)
    ratio = t["token"].best / t["empty"].best
    rows = [
        Row("empty hover round trip (baseline)", f"{us(t['empty'].best)} (median {us(t['empty'].median)})"),
        Row("hover on a JWT, 5 MiB doc, 1,000 JWTs", f"{us(t['token'].best)} (median {us(t['token'].median)})"),
        Row("  ÷ empty round trip", f"{ratio:.2f}×", f"≤ {HOVER_GOAL:g}×", ratio <= HOVER_GOAL),
        Row("  median ÷ median", f"{t['token'].median / t['empty'].median:.2f}×"),
        Row("same JWT again (cached verdict)", f"{us(t['again'].best)} ({t['again'].best / t['empty'].best:.2f}×)"),
        Row("hover off any JWT in the 5 MiB doc", f"{us(t['off'].best)} ({t['off'].best / t['empty'].best:.2f}×)"),
        Row("microstax.verify, keys cached (on-the-spot verdict)",
            f"{us(t['verify'].best)} ({t['verify'].best / t['empty'].best:.2f}×)"),
    ]
    notes.append(f"document: {len(text) / 2**20:.2f} MiB, {TOKENS} JWTs ({int(TOKENS * HYBRID_SHARE)} hybrid "
                 "ES256 + ML-DSA-65, the rest ES256 only), each hovered once; their verdicts were "
                 "computed by the daemon's background pass after the issuer's keys arrived; "
                 "minimum of interleaved samples, medians alongside")
    return rows, notes


def desktop_session() -> tuple[dict[str, str], Callable[[], None]]:
    """A private keyring session (scripts/lib/desktop-session.sh as a program)."""
    from tests.harness.desktop import SCRIPT, parse_env_lines

    proc = subprocess.run(["bash", str(SCRIPT), "start"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=900, check=False)
    env = parse_env_lines(proc.stdout)
    if proc.returncode != 0 or "MICROSTAX_DESKTOP_DIR" not in env:
        raise RuntimeError(f"could not start a desktop session: {proc.stderr[-2000:]}")

    def stop() -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", env["MICROSTAX_DESKTOP_DIR"]], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, check=False)

    return env, stop


async def federate_bench(rounds: int, base_env: dict[str, str], work: Path) -> tuple[list[Row], list[str]]:
    sys.path.insert(0, str(REPO))
    from tests.daemon.platform_env import write_config
    from tests.harness.platform import PlatformServer

    desktop, stop_desktop = desktop_session()
    overrides = {"limits": {"rate_per_second": 1_000_000, "rate_burst": 1_000_000}}
    try:
        with PlatformServer(work / "platform", config_overrides=overrides) as platform:
            config = write_config(work / "user" / "config.toml", {"dev": {"platform": platform.issuer}})
            env = {**base_env, **desktop, "MICROSTAX_CONFIG": str(config)}
            client = await start_daemon(env)
            arg = {"target": "stx-eu-west-cluster", "service": "payments"}
            try:
                await command(client, "microstax.logout", {})
                await command(client, "microstax.login", {})
                start = time.perf_counter()
                first = await command(client, "microstax.federate", arg)
                first_s = time.perf_counter() - start
                assert first["token"]

                async def warm() -> object:
                    return await command(client, "microstax.federate", arg)

                async def cold() -> object:
                    return await command(client, "microstax.federate", {**arg, "force": True})

                t = await interleaved_async({"warm": warm, "cold": cold}, rounds=max(20, rounds // 4))
                await command(client, "microstax.logout", {})
            finally:
                await stop_daemon(client)
    finally:
        stop_desktop()
    rows = [
        Row("federate warm (daemon cache)", f"{us(t['warm'].best)} (median {us(t['warm'].median)})"),
        Row("federate cold (token exchange)", f"{us(t['cold'].best)} (median {us(t['cold'].median)})"),
        Row("  cold ÷ warm", f"{t['cold'].best / t['warm'].best:.1f}×"),
        Row("first federate of a fresh daemon", f"{first_s * 1e3:.1f} ms"),
    ]
    notes = ["cold = a real RFC 8693 exchange at the platform on loopback (HTTP, signing, and "
             "verifying the answer against the cluster issuer's cached keys); the first federate "
             "also loads the catalog, discovery and JWKS, and the session from the OS keyring"]
    return rows, notes


def run(options: Any) -> Report:
    rounds = int(getattr(options, "rounds", 400))
    report = Report("daemon", "The daemon: hover and federate through an LSP client")
    with tempfile.TemporaryDirectory(prefix="microstax-bench-") as tmp:
        work = Path(tmp)
        base = dict(os.environ)
        for name in ("config", "state", "cache"):
            (work / name).mkdir()
        base.update({"XDG_CONFIG_HOME": str(work / "config"), "XDG_STATE_HOME": str(work / "state"),
                     "XDG_CACHE_HOME": str(work / "cache"), "MICROSTAX_STATE_DIR": str(work / "state" / "m"),
                     "PYTHONUNBUFFERED": "1"})
        base.pop("MICROSTAX_CONFIG", None)
        rows, notes = asyncio.run(hover_bench(rounds, base))
        report.rows.extend(rows)
        report.notes.extend(notes)
        rows, notes = asyncio.run(federate_bench(rounds, base, work))
        report.rows.extend(rows)
        report.notes.extend(notes)
        # daemon cold ÷ client cold (its own platform and keyring session; imports this module)
        from . import daemon_cold

        rows, notes = asyncio.run(daemon_cold.measure(rounds, base, work))
        report.rows.extend(rows)
        report.notes.extend(notes)
    return report
