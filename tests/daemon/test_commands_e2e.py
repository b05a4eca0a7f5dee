"""Every command end to end: the real daemon process, the real platform on loopback, the real
OS keyring (the private desktop session); sign-in by the platform's dev auto-approval."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute, hover, open_doc, stderr_with
from tests.daemon.platform_env import write_config
from tests.harness.platform import PlatformServer
from tests.harness.wait import async_wait_until

EU_WEST = "stx-eu-west-cluster"
AP_SOUTH = "stx-ap-south-cluster"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("platform")) as server:
        yield server


@pytest.fixture
async def signed_out(desktop_session, platform, start_daemon, tmp_path):  # type: ignore[no-untyped-def]
    """(client, environment name): a daemon whose config names the platform; not signed in.

    The environment is the platform's own ``dev`` (the exchange names it in the SPIFFE ID it
    requests); the keyring is the test run's private one, and the session in it is removed
    before and after each test."""
    env = "dev"
    config = write_config(tmp_path / "user" / "config.toml", {env: {"platform": platform.issuer}})
    client = await start_daemon(env={"MICROSTAX_CONFIG": str(config)})
    await execute(client, "microstax.logout", {"environment": env})
    client.received["microstax/identityChanged"].clear()
    yield client, env
    with contextlib.suppress(JsonRpcException):
        await execute(client, "microstax.logout", {"environment": env})


async def user_error(awaitable: Any) -> dict[str, Any]:
    with pytest.raises(JsonRpcException) as info:
        await awaitable
    assert info.value.code == -32001, info.value
    assert isinstance(info.value.data, dict)
    return info.value.data


async def test_signed_out_commands(signed_out, platform):
    client, env = signed_out
    envs = await execute(client, "microstax.listEnvironments")
    assert envs["v"] == 1
    assert {"name": env, "issuer": platform.issuer, "default": True, "signedIn": False}.items() <= \
        next(e for e in envs["environments"] if e["name"] == env).items()

    clusters = await execute(client, "microstax.listClusters", {})
    assert clusters["v"] == 1 and clusters["environment"] == env
    names = {c["name"]: c for c in clusters["clusters"]}
    assert {EU_WEST, AP_SOUTH} <= names.keys()
    assert names[EU_WEST]["status"] == "up" and names[EU_WEST]["token"] == {"state": "not_exchanged"}
    assert names[AP_SOUTH]["issuer"] == platform.cluster_issuer(AP_SOUTH)

    status = await execute(client, "microstax.identityStatus")
    assert status["signedIn"] is False and status["environment"] == env and "signed out" in status["label"]
    assert status["summary"].endswith("clusters exchanged")

    data = await user_error(execute(client, "microstax.federate", {"target": EU_WEST, "service": "default"}))
    assert data["code"] == "NOT_SIGNED_IN" and data["action"] == "signIn" and data["message"]

    data = await user_error(execute(client, "microstax.listClusters", {"environment": "nope"}))
    assert data["code"] == "UNKNOWN_ENVIRONMENT" and data["action"] == "openSettings"


async def test_sign_in_federate_hover_sign_out(signed_out, platform, capfd):
    client, env = signed_out
    received = client.received
    status = await execute(client, "microstax.login", {"environment": env})
    assert status["signedIn"] is True and status["subject"] == "dev" and status["issuer"] == platform.issuer
    assert status["secondsLeft"] > 0 and "dev" in status["label"]
    prompt = received["microstax/loginPrompt"][0]
    assert prompt["environment"] == env and prompt["userCode"] and prompt["verificationUri"].startswith(platform.issuer)
    await async_wait_until(lambda: any(s["signedIn"] for s in received["microstax/identityChanged"]), 10,
                           what="identityChanged signedIn=true")

    cold = await execute(client, "microstax.federate", {"target": EU_WEST, "service": "payments", "scopes": []})
    assert cold["v"] == 1 and cold["token"].startswith("eyJ") and cold["fromCache"] is False
    summary = cold["summary"]
    assert summary["identityKind"] == "spiffe" and summary["subject"].endswith("/svc/payments")
    assert summary["audience"] == [EU_WEST] and summary["actors"] == ["dev"]
    assert cold["cluster"]["name"] == EU_WEST and cold["cluster"]["token"]["state"] == "exchanged"
    assert cold["headerBudget"]["limit"] == 8192 and cold["headerBudget"]["exceeds"] is False
    await async_wait_until(lambda: any(c["name"] == EU_WEST and c["token"]["state"] == "exchanged"
                                       for c in received["microstax/clusterStateChanged"]), 10,
                           what="clusterStateChanged exchanged")
    warm = await execute(client, "microstax.federate", {"target": EU_WEST, "service": "payments"})
    assert warm["fromCache"] is True and warm["token"] == cold["token"]

    # a per-cluster issuer (its own keys): federate there too
    south = await execute(client, "microstax.federate", {"target": AP_SOUTH, "service": "default"})
    assert south["summary"]["issuer"] == platform.cluster_issuer(AP_SOUTH)

    # the status now counts the exchanged clusters
    status = await execute(client, "microstax.identityStatus", {"environment": env})
    assert status["summary"].startswith("2 of ")

    # hover on the tokens the platform issued: both issuers are trusted (config + catalog);
    # keys load in the background, a later hover verifies
    text = f"a: {cold['token']}\nb: {south['token']}\n"
    open_doc(client, "file:///w/federated.yaml", text, "yaml")
    for line in (0, 1):
        async def verified_card(line: int = line) -> str | None:
            card = (await hover(client, "file:///w/federated.yaml", line, 10)).contents.value
            assert "✓ verified" in card or "refreshing" in card, card  # keys loading, or loaded
            return card if "✓ verified" in card else None

        card = await async_wait_until(verified_card, 10, what=f"the card of line {line} verified")
        assert "Classical (`ES256`): ✓ verified" in card and "Post-quantum (`ML-DSA-65`): ✓ verified" in card
        assert "**Valid**" in card

    verified = await execute(client, "microstax.verify", {"token": cold["token"], "audience": EU_WEST})
    assert verified["valid"] is True
    wrong_aud = await execute(client, "microstax.verify", {"token": cold["token"], "audience": "elsewhere"})
    assert wrong_aud["valid"] is False and "elsewhere" in wrong_aud["reason"]

    data = await user_error(execute(client, "microstax.federate", {"target": "no-such-cluster", "service": "default"}))
    assert data["code"] == "UNKNOWN_CLUSTER"
    data = await user_error(execute(client, "microstax.federate",
                                    {"target": EU_WEST, "service": "payments", "scopes": ["root:everything"]}))
    assert data["code"] == "EXCHANGE_DENIED"

    # the daemon logs at debug here (pygls traces every message it sends, results with tokens
    # included): no token reaches stderr or the client's log
    stderr = await stderr_with(capfd, "eyJ…[redacted]")
    for tok in (cold["token"], south["token"]):
        assert tok[:40] not in stderr and tok[-40:] not in stderr
        assert not any(tok[-40:] in m.message for m in client.log_messages)

    out = await execute(client, "microstax.logout", {"environment": env})
    assert out["signedIn"] is False
    await async_wait_until(lambda: not received["microstax/identityChanged"][-1]["signedIn"], 10,
                           what="identityChanged signedIn=false")
    data = await user_error(execute(client, "microstax.federate", {"target": EU_WEST, "service": "payments"}))
    assert data["code"] == "NOT_SIGNED_IN"


async def test_bad_arguments_never_break_the_daemon(signed_out):
    client, _ = signed_out
    bad: list[tuple[str, list[Any]]] = [
        ("microstax.federate", [{}]),
        ("microstax.federate", [{"target": 7}]),
        ("microstax.federate", [{"target": "x", "scopes": "a b", "service": ["s"]}]),
        ("microstax.federate", [{"target": "x", "scopes": [1, 2]}]),
        ("microstax.federate", ["stx-eu-west-cluster"]),
        ("microstax.decode", [{"token": "not a token"}]),
        ("microstax.decode", [{"token": None}]),
        ("microstax.decode", [{"token": "eyJ" + "A" * 100_000}]),
        ("microstax.decode", [{}, {}]),
        ("microstax.verify", [[1, 2, 3]]),
        ("microstax.verify", [{"token": "a.b.c"}]),
        ("microstax.listClusters", [{"environment": {"x": 1}}]),
        ("microstax.identityStatus", [{"environment": "\x00"}]),
        ("microstax.login", [{"environment": 3.5}]),
        ("microstax.logout", [True]),
        ("microstax.listEnvironments", [None, None]),
    ]
    for command, args in bad:
        with pytest.raises(JsonRpcException) as info:
            await execute(client, command, *args)
        assert info.value.data["code"] in ("BAD_REQUEST", "INVALID_TOKEN"), (command, args, info.value.data)
        # an argument of the wrong shape is JSON-RPC "invalid params"; a bad token a user error
        expected = -32602 if info.value.data["code"] == "BAD_REQUEST" else -32001
        assert info.value.code == expected, (command, args, info.value)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "microstax.noSuchCommand", {})
    assert info.value.code == -32602
    assert (await execute(client, "microstax.listEnvironments"))["v"] == 1  # still serving
