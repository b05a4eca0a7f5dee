"""Config parsing and validation, hashed secrets, reload without restart, key rotation,
trusted foreign upstreams, state store behaviour."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.harness.platform_inproc import EU_WEST, InProc, jwks_transport, spiffe

from microstax.jose import HybridSigner, sign
from microstax.platform import ConfigError, Platform, Settings, load_config
from microstax.platform.config import dev_config_text, parse_config
from microstax.platform.runtime import rotate_keystore
from microstax.platform.secrets import hash_secret, verify_secret


def test_dev_config_is_valid_and_complete() -> None:
    text = dev_config_text(demo_secret_hash=hash_secret("s", log_n=10), dev_password_hash=hash_secret("p", log_n=10))
    import tomllib

    config = parse_config(tomllib.loads(text))
    assert config.auto_approve_user == "dev"
    assert {c.name for e in config.environments for c in e.clusters} >= {
        "stx-eu-west-cluster", "stx-us-east-cluster", "stx-ap-south-cluster"}
    assert config.clients["microstax-cli"].public
    assert not config.clients["demo-workload"].public
    assert [c.name for c in config.own_issuer_clusters()] == ["stx-ap-south-cluster"]
    assert config.allowed_scopes("dev", "dev", "payments", EU_WEST) == {"read", "write"}
    assert config.allowed_scopes("eve", "dev", "payments", EU_WEST) is None


@pytest.mark.parametrize(("doc", "where"), [
    ({"tokens": {"lifetime": "5m"}}, "tokens.lifetime"),
    ({"bogus": 1}, "bogus"),
    ({"environments": [{"name": "Dev!"}]}, "environments[0].name"),
    ({"clients": [{"client_id": "c", "type": "confidential"}]}, "clients[0].secret_hash"),
    ({"clients": [{"client_id": "c", "type": "public", "grant_types": ["client_credentials"]}]},
     "clients[0].grant_types"),
    ({"clients": [{"client_id": "c", "secret_hash": "plaintext"}]}, "clients[0].secret_hash"),
    ({"dev": {"auto_approve_user": "ghost"}}, "dev.auto_approve_user"),
    ({"policy": [{"actors": ["x"], "environment": "nope"}]}, "policy[0].environment"),
])
def test_config_errors_name_the_file_and_key(doc: dict, where: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="team.toml")
    assert info.value.message.startswith(f"team.toml: {where}:"), info.value.message


def test_load_config_reports_toml_errors(tmp_path: Path) -> None:
    path = tmp_path / "platform.toml"
    path.write_text("version = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_secret_hashes_verify_in_constant_time_shape() -> None:
    h = hash_secret("correct horse", log_n=10)
    assert h.startswith("scrypt$10$") and "correct" not in h
    assert verify_secret("correct horse", h) and verify_secret("correct horse", h)  # memo path
    assert not verify_secret("wrong", h)
    assert not verify_secret("x", "scrypt$garbage")


def test_auto_approve_refuses_a_non_loopback_bind(tmp_path: Path) -> None:
    from microstax.platform import init_data_dir

    init_data_dir(tmp_path)
    with pytest.raises(ConfigError, match="loopback"):
        Platform(Settings(tmp_path, tmp_path / "platform.toml", host="0.0.0.0"))


async def test_config_reload_without_restart(mx: InProc) -> None:
    r = await mx.client.post("/oauth/device_authorization", data={"client_id": "new-cli"})
    assert r.json()["error"] == "invalid_client"
    mx.edit_config(lambda doc: {**doc, "clients": [*doc["clients"], {
        "client_id": "new-cli", "type": "public",
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "scopes": ["federate"]}]})
    mx.platform._config_checked = 0.0  # the once-a-second check is due
    r = await mx.client.post("/oauth/device_authorization", data={"client_id": "new-cli"})
    assert r.status_code == 200, r.text
    # a broken file keeps the previous config
    mx.config_path.write_text("version = [")
    mx.platform._config_checked = 0.0
    assert (await mx.client.post("/oauth/device_authorization", data={"client_id": "new-cli"})).status_code == 200


async def test_policy_change_takes_effect(mx: InProc) -> None:
    token = (await mx.session())["access_token"]
    assert (await mx.exchange(token, service="orders")).status_code == 200
    mx.reconfigure({"policy": [{"name": "only-default", "actors": ["dev"], "environment": "dev",
                                "services": ["default"], "scopes": ["read"]}]})
    assert (await mx.exchange(token, service="orders")).json()["error"] == "invalid_target"
    assert (await mx.exchange(token, service="default")).json()["scope"] == "read"


async def test_rotation_keeps_old_tokens_verifiable(mx: InProc) -> None:
    before = await mx.cc_token()
    old_kids = {k.kid for k in mx.keys()}  # noqa: SIM118 (InProc.keys() is a KeySet)
    rotate_keystore(mx.data_dir, retain_seconds=3600)
    mx.platform.central.force_reload()
    # both sets keep the retired keys: jwks_uri the EC ones, the PQ set the AKP ones
    jwks = (await mx.client.get("/jwks.json")).json()
    pq_jwks = (await mx.client.get("/pq-jwks.json")).json()
    assert {k["kty"] for k in jwks["keys"]} == {"EC"} and {k["kty"] for k in pq_jwks["keys"]} == {"AKP"}
    assert len(jwks["keys"]) == 2 and len(pq_jwks["keys"]) == 2
    kids = {k["kid"] for k in jwks["keys"] + pq_jwks["keys"]}
    assert old_kids < kids and len(kids) == 4
    after = await mx.cc_token()
    mx.verify(before, EU_WEST)
    mx.verify(after, EU_WEST)
    from microstax.jose import parse

    assert parse(after).header["kid"] not in old_kids
    # after the retention window the old keys are gone
    store = mx.platform.central.store
    assert len(store.published(now=time.time() + 7200)) == 2


async def test_trusted_foreign_upstream(make_inproc) -> None:  # type: ignore[no-untyped-def]
    corp = HybridSigner.generate()
    mx = await make_inproc({
        "upstreams": [{"connector_id": "corp", "issuer": "https://idp.corp.test", "jwks_uri": "https://idp.corp.test/jwks",
                       "audience": "microstax", "subject_prefix": "corp:"}],
        "policy+": [{"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
                     "services": ["default"], "scopes": ["read"]}],
    }, upstream_transport=jwks_transport(corp))
    now = int(time.time())
    alice = sign({"iss": "https://idp.corp.test", "sub": "alice", "aud": "microstax", "iat": now,
                  "exp": now + 300}, corp, typ="JWT")
    r = await mx.exchange(alice, service="default", connector_id="corp")
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["sub"] == spiffe("default") and claims["act"] == {"sub": "corp:alice"}
    wrong_aud = sign({"iss": "https://idp.corp.test", "sub": "alice", "aud": "other", "iat": now,
                      "exp": now + 300}, corp)
    assert (await mx.exchange(wrong_aud, service="default")).json()["error"] == "invalid_grant"
    bob = sign({"iss": "https://idp.corp.test", "sub": "bob", "aud": "microstax", "iat": now,
                "exp": now + 300}, corp)
    assert (await mx.exchange(bob, service="default")).json()["error"] == "invalid_target"
    imposter = sign({"iss": "https://idp.corp.test", "sub": "alice", "aud": "microstax", "iat": now,
                     "exp": now + 300}, HybridSigner.generate())
    assert (await mx.exchange(imposter, service="default")).json()["error"] == "invalid_grant"
