"""verifycache.py: hover verdicts never wait; keys arrive in the background."""

from __future__ import annotations

import asyncio

import pytest
from tests.daemon.tokenfactory import claims_for
from tests.harness.wait import async_wait_until

from microstax.daemon.verifycache import LOADING, IssuerKeys, OfflineVerifier
from microstax.jose import HybridSigner, KeySet, parse, sign

ISS = "https://issuer.example"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(fetch, trusted=(ISS,), clock=None):  # type: ignore[no-untyped-def]
    keys = IssuerKeys(fetch, bound=1.0, clock=clock or Clock())
    return keys, OfflineVerifier(keys, lambda iss: iss in trusted)


async def test_loading_then_verified():
    signer = HybridSigner.generate()
    gate = asyncio.Event()
    calls: list[str] = []

    async def fetch(issuer: str, kid: str | None = None) -> KeySet:
        calls.append(issuer)
        await gate.wait()
        return signer.key_set()

    _keys, verifier = make(fetch)
    token = parse(sign(claims_for("user", issuer=ISS), signer))
    first = verifier.verdict(token)
    assert first.classical == "unverifiable" and first.message == LOADING
    await async_wait_until(lambda: calls, 5, what="the key fetch starts")
    assert verifier.verdict(token).message == LOADING and calls == [ISS]  # one fetch in flight
    gate.set()
    later = await async_wait_until(lambda: (v := verifier.verdict(token)).valid and v, 5, what="the keys arrive")
    assert later.valid and later.classical == "verified" and later.pq == "verified"


async def test_untrusted_issuer_is_never_fetched():
    async def fetch(issuer: str, kid: str | None = None) -> KeySet:
        raise AssertionError("fetched")

    _, verifier = make(fetch, trusted=())
    token = parse(sign(claims_for("user", issuer="https://evil.example"), HybridSigner.generate()))
    verdict = verifier.verdict(token)
    assert verdict.classical == "unverifiable" and "not one of your configured" in (verdict.message or "")


async def test_fetch_failure_is_reported_and_backed_off():
    calls = 0

    async def fetch(issuer: str, kid: str | None = None) -> KeySet:
        nonlocal calls
        calls += 1
        raise RuntimeError("connection refused")

    clock = Clock()
    _, verifier = make(fetch, clock=clock)
    token = parse(sign(claims_for("user", issuer=ISS), HybridSigner.generate()))
    assert verifier.verdict(token).message == LOADING
    failed = await async_wait_until(
        lambda: (v := verifier.verdict(token)).message != LOADING and v, 5, what="the failed fetch")
    assert "could not be fetched" in (failed.message or "") and "connection refused" in (failed.message or "")
    assert calls == 1  # backing off
    clock.t += 11
    verifier.verdict(token)
    await async_wait_until(lambda: calls == 2, 5, what="a second fetch after the back-off")


async def test_slow_issuer_is_bounded():
    async def fetch(issuer: str, kid: str | None = None) -> KeySet:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    keys, verifier = make(fetch)
    keys.bound = 0.05
    token = parse(sign(claims_for("user", issuer=ISS), HybridSigner.generate()))
    verifier.verdict(token)
    await async_wait_until(lambda: "did not arrive within" in (verifier.verdict(token).message or ""), 5,
                           what="the bounded fetch gives up")
    with pytest.raises(TimeoutError):
        await keys.get("https://other.example")


async def test_rotation_refetches_for_an_unknown_kid():
    old, new = HybridSigner.generate(), HybridSigner.generate()
    current = {"signer": old}

    async def fetch(issuer: str, kid: str | None = None) -> KeySet:
        return current["signer"].key_set()

    clock = Clock()
    keys, verifier = make(fetch, clock=clock)
    await keys.get(ISS)
    current["signer"] = new
    token = parse(sign(claims_for("user", issuer=ISS), new))
    clock.t += 11  # past the minimum interval between fetches
    assert "lack this token's key id" in (verifier.verdict(token).message or "")
    await async_wait_until(lambda: verifier.verdict(token).valid, 5, what="the refetched keys verify the token")


async def test_tampered_and_stripped_tokens():
    signer = HybridSigner.generate()

    async def fetch(issuer: str, kid: str | None = None) -> KeySet:
        return signer.key_set()

    keys, verifier = make(fetch)
    await keys.get(ISS)
    good = sign(claims_for("user", issuer=ISS), signer)
    h, _p, s = good.split(".")
    other = sign(claims_for("user", issuer=ISS, sub="admin"), signer).split(".")[1]
    tampered = verifier.verdict(parse(f"{h}.{other}.{s}"))
    assert not tampered.valid and tampered.classical == "invalid"
    from tests.daemon.test_hover_e2e import stripped_token
    stripped = verifier.verdict(parse(stripped_token(signer, claims_for("user", issuer=ISS))))
    assert not stripped.valid and stripped.classical == "verified" and stripped.pq == "missing"
