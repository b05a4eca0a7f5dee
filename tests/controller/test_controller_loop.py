"""The async loop in process, with a fake issuer minting 4-second tokens: fast cycles,
a hanging issuer, a crashing one. No platform, no network."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from tests.harness.wait import async_wait_until

from microstax.controller.acquire import Acquired, Acquirer
from microstax.controller.config import EntrySpec
from microstax.controller.runner import Controller
from microstax.controller.state import TokenMeta, fingerprint
from microstax.identity.exceptions import ExchangeDenied
from microstax.jose import HybridSigner, parse, sign

SIGNER = HybridSigner.generate()


class FakeIssuer(Acquirer):
    def __init__(self, lifetime: float = 4.0) -> None:
        super().__init__(httpx.AsyncClient())
        self.lifetime = lifetime
        self.mode = "ok"
        self.calls = 0

    async def acquire(self, spec: EntrySpec) -> Acquired:
        self.calls += 1
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "crash":
            raise RuntimeError("boom")
        if self.mode == "deny":
            raise ExchangeDenied("a: the token endpoint refused the exchange: invalid_target",
                                 error="invalid_target", status=400)
        now = time.time()
        token = sign({"iss": "https://fake", "sub": "s", "aud": spec.target, "iat": int(now),
                      "exp": now + self.lifetime, "jti": f"j{self.calls}"}, SIGNER)
        meta = TokenMeta(jti=f"j{self.calls}", issued_at=now, expires_at=now + self.lifetime,
                         fingerprint=fingerprint(token))
        return Acquired(token, meta, None)  # type: ignore[arg-type]


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "c.toml"
    (tmp_path / "subject").write_text("unused")
    config.write_text(
        '[controller]\nlisten = ""\npoll_interval = 0.05\n'
        '[[workload]]\nname = "w"\nissuer = "http://127.0.0.1:9"\ntargets = ["a", "b"]\n'
        f'output = "{tmp_path}/out/{{target}}.jwt"\nsubject = {{file = "subject"}}\n'
        "refresh_fraction = 0.5\njitter = 0.1\nmin_backoff = 0.2\nmax_backoff = 0.5\n")
    return config


async def run_for(controller: Controller, seconds: float) -> None:
    task = asyncio.create_task(controller.run())
    await asyncio.sleep(seconds)
    controller.request_stop()
    assert await asyncio.wait_for(task, 10) == 0


def test_fast_cycles_rotate_and_files_stay_valid(tmp_path: Path) -> None:
    fake = FakeIssuer()
    controller = Controller(write_config(tmp_path), listen=False, acquirer=fake, install_signals=False)
    seen: dict[str, set[str]] = {"a": set(), "b": set()}
    problems: list[str] = []

    async def main() -> None:
        async def reader() -> None:
            while True:
                for target in seen:
                    path = tmp_path / "out" / f"{target}.jwt"
                    if path.exists():
                        claims = parse(path.read_text()).claims
                        if claims["exp"] <= time.time():
                            problems.append(f"{target} expired")
                        seen[target].add(claims["jti"])
                await asyncio.sleep(0.02)

        watch = asyncio.create_task(reader())
        await run_for(controller, 7.0)
        watch.cancel()

    asyncio.run(main())
    assert not problems
    assert all(len(jtis) >= 3 for jtis in seen.values()), seen  # ~every 2 s over 7 s
    assert all(w.state.issued >= 3 and w.state.failures == 0 for w in controller.workers.values())


def test_a_hanging_issuer_never_leaves_an_expired_token(tmp_path: Path) -> None:
    fake = FakeIssuer()
    controller = Controller(write_config(tmp_path), listen=False, acquirer=fake, install_signals=False)
    out = tmp_path / "out" / "a.jwt"

    async def main() -> None:
        task = asyncio.create_task(controller.run())
        await async_wait_until(out.exists, 10, what="the first token file")
        fake.mode = "hang"  # the next attempt never returns
        exp = parse(out.read_text()).claims["exp"]
        while out.exists():
            assert time.time() < exp, "the file outlived its token"
            await asyncio.sleep(0.02)
        assert time.time() < exp
        state = controller.workers["w/a"].state
        assert state.status(time.time()) == "expired" and not controller.health()[0]
        fake.mode = "ok"
        controller.request_stop()
        assert await asyncio.wait_for(task, 10) == 0

    asyncio.run(main())


def test_an_unexpected_error_is_counted_and_the_entry_keeps_going(tmp_path: Path) -> None:
    fake = FakeIssuer()
    fake.mode = "crash"
    controller = Controller(write_config(tmp_path), listen=False, acquirer=fake, install_signals=False)

    async def main() -> None:
        task = asyncio.create_task(controller.run())
        await async_wait_until(lambda: "w/a" in controller.workers, 10, what="the entry's worker")
        state = controller.workers["w/a"].state
        await async_wait_until(lambda: state.failures_by_cause["internal"] >= 2, 10, what="two internal failures")
        assert state.status(time.time()) == "pending"
        fake.mode = "deny"  # an identity error: counted by its cause, not as a bug
        await async_wait_until(lambda: state.failures_by_cause["denied"] >= 1, 10, what="a denied attempt")
        fake.mode = "ok"
        await async_wait_until(lambda: state.issued >= 1, 10, what="a token")
        assert state.status(time.time()) == "ok"
        assert controller.health()[0]
        controller.request_stop()
        assert await asyncio.wait_for(task, 10) == 0

    asyncio.run(main())
