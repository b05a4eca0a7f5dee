"""Deeply nested JSON (and TOML) in any file or response we parse is a clear error, never a
RecursionError, an exit 70 or a 500: tokens, JWKS, discovery, token responses, catalogs, state
files, config files. One parser (``jose.loads_json``) and one TOML reader (``jose.loads_toml``)
bound the nesting at ``MAX_JSON_DEPTH`` levels before anything recursive sees the document."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_helpers import NOW, b64, dumps, raw_token
from tests.harness.loopback_http import LoopbackServer

from microstax.jose import (
    MAX_JSON_DEPTH,
    KeySet,
    KeyStore,
    KeyStoreError,
    MalformedJSON,
    MalformedToken,
    check,
    describe,
    loads_json,
    loads_toml,
    parse,
)

DEEP = 100_000


def nested(depth: int, kind: str = "[") -> str:
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


HOSTILE = [nested(DEEP), nested(DEEP, "{"), nested(DEEP)[: DEEP + 10], '{"a":' + nested(5000) + "}",
           "[" * DEEP, '{"keys":' + nested(70) + "}"]


@pytest.mark.parametrize("doc", HOSTILE, ids=range(len(HOSTILE)))
def test_the_one_parser_refuses_deep_documents(doc: str) -> None:
    with pytest.raises(MalformedJSON, match=r"deeper than 64 levels|not valid JSON"):
        loads_json(doc.encode(), "document")


def test_the_depth_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    assert loads_json(nested(MAX_JSON_DEPTH), "doc") is not None
    with pytest.raises(MalformedJSON, match="deeper"):
        loads_json(nested(MAX_JSON_DEPTH + 1), "doc")
    text = json.dumps({"s": "[" * 1000 + "{" * 1000, "t": ["]]]\\\"[[["] * 100})
    assert loads_json(text, "doc")["s"].startswith("[[[")


@pytest.mark.parametrize("part", ["header", "payload"])
@pytest.mark.parametrize("depth", [65, 1000, 1100, 10_000])
def test_tokens_with_deep_members_are_malformed(part: str, depth: int, keys: KeySet) -> None:
    inner = nested(depth)
    header = dumps({"alg": "ES256", "kid": "k"})[:-1] + f',"x":{inner}}}' if part == "header" else \
        dumps({"alg": "ES256", "kid": "k"})
    payload = f'{{"sub":"a","x":{inner}}}' if part == "payload" else '{"sub":"a"}'
    token = raw_token(header, payload)
    with pytest.raises(MalformedToken, match="deeper than 64"):
        parse(token)
    verdict, parsed, _ = check(token, keys, now=NOW)
    assert parsed is None and verdict.reason == "malformed"


def test_a_claim_at_the_limit_is_shown(mint: Callable[..., str]) -> None:
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH - 2):
        deep = [deep]
    desc = describe(mint(extra=deep), now=NOW)
    json.dumps(desc.claims, indent=2)  # what 'token decode' prints


def test_a_deep_pq_protected_header(keys: KeySet, mint: Callable[..., str]) -> None:
    good = parse(mint())
    header = dict(good.header, pq={"protected": b64(nested(5_000).encode()),
                                   "signature": good.header["pq"]["signature"]})
    token = f"{b64(dumps(header).encode())}.{good.payload_b64}.{b64(good.signature)}"
    verdict, _, _ = check(token, keys, now=NOW)
    assert not verdict.valid
    describe(token, now=NOW).to_summary()
    from microstax.identity.verification import token_kids
    assert token_kids(parse(token))[1] is None


# -- responses over HTTP ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_server() -> Any:
    with LoopbackServer() as server:
        for name, doc in (("deep", nested(DEEP)), ("deepobj", nested(DEEP, "{")),
                          ("dup", '{"keys": [], "keys": []}'), ("nan", '{"expires_in": NaN}')):
            server.raw(f"/{name}", doc.encode(), content_type="application/json")
        yield server


@pytest.mark.parametrize("name", ["deep", "deepobj", "dup", "nan"])
def test_responses_are_a_protocol_error(hostile_server: LoopbackServer, name: str) -> None:
    from microstax.oauth.exceptions import ProtocolError
    from microstax.oauth.http import make_client, request_json
    with make_client() as client, pytest.raises(ProtocolError, match="expected JSON"):
        request_json(client, "GET", f"{hostile_server.url}/{name}")


@pytest.mark.parametrize("name", ["deep", "deepobj", "dup"])
def test_a_hostile_jwks_url(hostile_server: LoopbackServer, name: str) -> None:
    from microstax.oauth.exceptions import OAuthError
    from microstax.oauth.jwks import JWKSCache
    with pytest.raises(OAuthError):
        JWKSCache(f"{hostile_server.url}/{name}").get()


@pytest.mark.parametrize("name", ["deep", "deepobj"])
async def test_a_hostile_token_endpoint(hostile_server: LoopbackServer, name: str) -> None:
    from microstax.oauth.exceptions import ProtocolError
    from microstax.oauth.http import make_async_client
    from microstax.oauth.tokens import post_form
    async with make_async_client() as client:
        with pytest.raises(ProtocolError):
            await post_form(client, f"{hostile_server.url}/{name}", [("grant_type", "x")])


def test_a_hostile_discovery_document() -> None:
    from microstax.oauth.discovery import discover
    from microstax.oauth.exceptions import OAuthError
    with LoopbackServer() as server:
        for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            server.raw(path, nested(DEEP, "{").encode(), content_type="application/json")
        with pytest.raises(OAuthError):
            discover(server.url, allow_http=True)


# -- files --------------------------------------------------------------------------------------
DEEP_TOML = ["a = " + nested(DEEP), "a = " + "{b=" * 5000 + "1" + "}" * 5000, "a = " + nested(100),
             "a = " + "[{b=" * 40 + "1" + "}]" * 40]


@pytest.mark.parametrize("text", DEEP_TOML, ids=range(len(DEEP_TOML)))
def test_toml_nesting_is_bounded(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError, match="deeper than 64"):
        loads_toml(text.encode())


@pytest.mark.parametrize("text", DEEP_TOML[:2], ids=range(2))
def test_every_toml_config_reader(tmp_path: Path, text: str) -> None:
    from microstax.controller.config import load_config as controller_load
    from microstax.identity import config as user_config
    from microstax.identity.exceptions import ConfigError as IdentityConfigError
    from microstax.platform import ConfigError as PlatformConfigError
    from microstax.platform.config import load_config as platform_load
    from microstax.receivers.config import load_config as receiver_load
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(IdentityConfigError, match="TOML"):
        user_config.load(path)
    with pytest.raises(IdentityConfigError, match="TOML"):
        controller_load(path)
    with pytest.raises(PlatformConfigError, match="TOML"):
        platform_load(path)
    with pytest.raises(Exception, match="TOML") as info:
        receiver_load(path)
    assert type(info.value).__name__ in ("ConfigError", "PolicyError")


def test_state_files(tmp_path: Path) -> None:
    from microstax.adapters.secrets import InsecureFileSecretStore, SecretStoreUnavailable
    from microstax.identity.cache import TokenVault
    from microstax.identity.session import Session
    for doc in (nested(DEEP), nested(DEEP, "{"), "[]", '"text"', '{"secrets": [1], "entries": [1]}'):
        vault = TokenVault(None, tmp_path)
        vault.dir.mkdir(exist_ok=True)
        vault.meta_path("dev").write_text(doc)
        assert vault.read_meta("dev") == ({}, {})
        with pytest.raises(ValueError):
            Session.from_record(doc)
        secrets = tmp_path / "secrets.json"
        secrets.write_text(doc)
        secrets.chmod(0o600)
        with pytest.raises(SecretStoreUnavailable):
            InsecureFileSecretStore(secrets).get("x")
        store = tmp_path / "keys"
        store.mkdir(exist_ok=True)
        (store / "keys.json").write_text(doc)
        (store / "keys.json").chmod(0o600)
        with pytest.raises(KeyStoreError):
            KeyStore(store).load()


async def test_a_cached_catalog_file(tmp_path: Path) -> None:
    from microstax.identity.catalog import CatalogClient
    async with httpx.AsyncClient() as http:
        catalogs = CatalogClient(http, tmp_path, timeout=1, ttl=60)
        catalogs._file("https://p.example").parent.mkdir(parents=True, exist_ok=True)
        catalogs._file("https://p.example").write_text(nested(DEEP, "{"))
        assert catalogs.cached("https://p.example") is None


@pytest.mark.parametrize("doc", [nested(DEEP), '{"keys": ' + nested(DEEP) + "}"])
def test_cli_verify_with_a_deep_jwks_file(tmp_path: Path, doc: str, keys: KeySet,
                                         mint: Callable[..., str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    from microstax.cli.main import main
    (tmp_path / "jwks.json").write_text(doc)
    (tmp_path / "token").write_text(mint())
    code = main(["identity", "verify", "--token-file", str(tmp_path / "token"),
                 "--jwks", str(tmp_path / "jwks.json")])
    err = capsys.readouterr().err
    assert code == exit_codes.USAGE, err
    assert "deeper than 64" in err


def test_cli_mint_with_deep_claims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    from microstax.cli.main import main
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 0
    (tmp_path / "claims.json").write_text(nested(DEEP, "{"))
    code = main(["token", "mint", "--keys", str(tmp_path / "k"), "--claims-json",
                 str(tmp_path / "claims.json"), "--iss", "https://i", "--sub", "s", "--aud", "a"])
    assert code == exit_codes.USAGE, capsys.readouterr().err
    code = main(["token", "mint", "--keys", str(tmp_path / "k"), "--iss", "https://i", "--sub", "s",
                 "--aud", "a", "--claim", "x:=" + nested(DEEP)])
    assert code == exit_codes.USAGE, capsys.readouterr().err


def test_a_deep_kubeconfig(tmp_path: Path) -> None:
    from microstax.identity.exceptions import ConfigError
    from microstax.identity.kubeconfig import read_kubeconfig
    path = tmp_path / "config"
    path.write_text("clusters: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="YAML"):
        read_kubeconfig(path)
