"""Every command with random arguments against the real daemon: each answer is a result or a
user error (-32001 with a code; -32602 for BAD_REQUEST), never an internal error, and the
daemon keeps serving. A
stray print to stdout inside the daemon does not corrupt the protocol."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute, hover, open_doc, stderr_with
from tests.daemon.platform_env import write_config
from tests.daemon.tokenfactory import mint

COMMANDS = ["microstax.listEnvironments", "microstax.listClusters", "microstax.federate",
            "microstax.decode", "microstax.verify", "microstax.identityStatus", "microstax.login",
            "microstax.logout"]
KEYS = ["environment", "target", "service", "scopes", "audience", "token", "issuer", "force"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.sampled_from(["dev", "nope", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "http://127.0.0.1:9", "\x00", mint("user")]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5),
                                                                inner, max_size=4),
    max_leaves=8)
arguments = st.lists(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5) | json_values, max_size=2)


@pytest.fixture
async def offline_client(start_daemon, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A daemon whose platform is a closed port and whose keyring is keyring's 'none'."""
    config = write_config(tmp_path / "c" / "config.toml", {"dev": {"platform": "http://127.0.0.1:9"}})
    return await start_daemon({"logLevel": "warn"}, env={
        "MICROSTAX_CONFIG": str(config), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(command=st.sampled_from(COMMANDS), args=arguments)
async def test_random_arguments(offline_client, command, args):
    try:
        result = await execute(offline_client, command, *args)
    except JsonRpcException as exc:
        assert exc.code in (-32001, -32602), (command, args, exc)
        assert isinstance(exc.data, dict) and exc.data.get("code") and exc.data.get("message")
        assert (exc.code == -32602) == (exc.data["code"] == "BAD_REQUEST"), (command, args, exc)
    else:
        assert isinstance(result, dict) and result.get("v") == 1


async def test_stray_stdout_writes_do_not_corrupt_the_protocol(start_daemon, tmp_path: Path, capfd):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent('''
        import os, sys
        import microstax.daemon.tokens as tokens
        real = tokens.describe
        def describe(token, **kw):
            print("a careless print", flush=True)
            sys.stdout.write("Content-Length: 5\\r\\n\\r\\nnoise")
            sys.stdout.flush()
            os.write(1, b"a raw write to fd 1\\n")
            return real(token, **kw)
        tokens.describe = describe
    '''))
    client = await start_daemon(env={"PYTHONPATH": str(hook)})
    token = mint("spiffe")
    for _ in range(3):
        result = await execute(client, "microstax.decode", {"token": token})
        assert result["summary"]["identityKind"] == "spiffe"
    open_doc(client, "file:///w/p.txt", token)
    assert await hover(client, "file:///w/p.txt", 0, 3) is not None
    await stderr_with(capfd, "a careless print", "a raw write to fd 1")
