"""Property-based: every parser takes arbitrary input (not only valid-shaped) and lets out
nothing but its documented exception.

    jose.loads_json            MalformedJSON            jose.loads_toml         TOMLDecodeError
    KeySet.from_jwks           KeyStoreError            oauth parse_jwks        DiscoveryError
    oauth parse_metadata       DiscoveryError           token_response_from     ProtocolError
    identity parse_catalog     DiscoveryError           delta_seconds & co.     never raise
    config parsers (user, controller, platform, receivers)  their ConfigError (or PolicyError)
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microstax.jose import (
    HybridSigner,
    KeySet,
    KeyStoreError,
    MalformedJSON,
    loads_json,
    loads_toml,
)
from microstax.oauth.exceptions import DiscoveryError, OAuthError, ProtocolError
from microstax.oauth.http import delta_seconds, retry_after_seconds
from microstax.oauth.jwks import CachePolicy, cache_lifetime, parse_jwks

SETTINGS = settings(max_examples=int(__import__("os").environ.get("HARDENING_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SIGNER = HybridSigner.generate()
GOOD_JWKS = SIGNER.key_set().to_jwks()

edge_numbers = st.sampled_from([10**400, -(10**400), 1e308, -1e308, -1, 0, 2**63, 5e-324, 1.5])
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | edge_numbers | st.text(max_size=20)
           | st.sampled_from(["", "ES256", "EC", "P-256", "sig", "https://i.example", "١٢", "²",
                              "http://127.0.0.1:1", "keyring:x", "file:/dev/zero", "AQAB"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=16)


#: what a TOML document can hold: no null, but nan and inf are valid TOML floats
toml_scalars = (st.booleans() | st.integers() | st.floats() | edge_numbers | st.text(max_size=20)
                | st.sampled_from(["", "ES256", "https://i.example", "http://127.0.0.1:1", "dev",
                                   "keyring:x", "file:/dev/zero", "١٢", "*", "central", "own"]))
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=16)


def keyed(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose members are mostly the ones a parser looks for, with arbitrary values."""
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=6), values, max_size=8)


# -- JSON and TOML text ------------------------------------------------------------------------
json_texts = (st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
              | values.map(lambda v: json.dumps(v, allow_nan=True))
              | st.integers(0, 5000).map(lambda n: "[" * n + "]" * n)
              | st.integers(0, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n))


@SETTINGS
@given(json_texts)
def test_loads_json(text: str) -> None:
    try:
        loads_json(text.encode("utf-8", "surrogatepass"), "document")
    except MalformedJSON:
        pass


@SETTINGS
@given(st.text(max_size=300) | st.integers(0, 3000).map(lambda n: "a = " + "[" * n + "]" * n))
def test_loads_toml(text: str) -> None:
    try:
        loads_toml(text.encode("utf-8", "surrogatepass"))
    except tomllib.TOMLDecodeError:
        pass


# -- keys ----------------------------------------------------------------------------------------
jwk_members = ["kty", "crv", "x", "y", "n", "e", "alg", "kid", "use", "key_ops", "pub", "d"]


def mutated_jwk() -> st.SearchStrategy[Any]:
    base = st.sampled_from(GOOD_JWKS["keys"])
    return st.builds(lambda jwk, extra: {**jwk, **extra}, base, keyed(jwk_members)) | keyed(jwk_members) | values


@SETTINGS
@given(st.dictionaries(st.sampled_from(["keys"]) | st.text(max_size=4),
                       st.lists(mutated_jwk(), max_size=5) | values, max_size=3) | values)
def test_jwks(doc: Any) -> None:
    try:
        KeySet.from_jwks(doc)
    except KeyStoreError:
        pass
    try:
        parse_jwks(doc, "https://idp.example/jwks")
    except DiscoveryError:
        pass


# -- discovery, token responses, catalogs ---------------------------------------------------------
@SETTINGS
@given(keyed(["issuer", "jwks_uri", "token_endpoint", "device_authorization_endpoint",
              "revocation_endpoint", "microstax_hybrid_signing", "microstax_pq_jwks_uri",
              "grant_types_supported", "scopes_supported", "authorization_endpoint"]) | values)
def test_discovery_document(doc: Any) -> None:
    from microstax.oauth.discovery import parse_metadata
    if isinstance(doc, dict) and "issuer" not in doc:
        doc["issuer"] = "https://i.example"
    try:
        parse_metadata(doc, "https://i.example", "https://i.example/.well-known/openid-configuration")
    except DiscoveryError:
        pass


@SETTINGS
@given(keyed(["access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope",
              "issued_token_type", "refresh_expires_in"]))
def test_token_response(doc: dict[str, Any]) -> None:
    from microstax.oauth.tokens import token_response_from
    try:
        response = token_response_from(doc, what="the token endpoint", endpoint="https://i.example/token")
    except ProtocolError:
        return
    for value in (response.expires_in, response.refresh_expires_in):
        assert value is None or 0 <= value <= 2**32
    response.expires_at  # noqa: B018 - computed: must not raise
    response.refresh_expires_at  # noqa: B018


@SETTINGS
@given(st.fixed_dictionaries({"v": st.just(1) | values,
                              "environments": st.lists(keyed(["name", "clusters", "description",
                                                              "issuer", "trust_domain"]) | values,
                                                       max_size=3) | values}) | values)
def test_catalog(doc: Any) -> None:
    from microstax.identity.catalog import parse_catalog
    try:
        parse_catalog(doc, "https://p.example/v1/catalog")
    except OAuthError:
        pass


# -- HTTP header numbers ---------------------------------------------------------------------------
@SETTINGS
@given(st.none() | st.text(max_size=40) | st.integers(-10**30, 10**30).map(str),
       st.none() | st.text(max_size=40) | st.integers(-10**30, 10**30).map(str))
def test_header_numbers(first: str | None, second: str | None) -> None:
    seconds = delta_seconds(first)
    assert seconds is None or 0 <= seconds <= 86400
    after = retry_after_seconds(first)
    assert after is None or 0 <= after <= 86400
    policy = CachePolicy()
    for control in (first, f"max-age={first}", f"public, max-age={first}, no-transform"):
        lifetime = cache_lifetime(control, policy, age=second)
        assert policy.min_max_age <= lifetime <= policy.max_max_age


# -- config readers -------------------------------------------------------------------------------
user_config = keyed(["default_environment", "defaults", "environments"]) | st.fixed_dictionaries(
    {"environments": st.dictionaries(st.text(max_size=6) | st.just("dev"),
                                     keyed(["platform", "issuer", "flavour", "clusters", "workload",
                                            "client_id", "scopes", "ca_file", "login_method",
                                            "trust_domain", "auth_method", "client_secret"]) | values,
                                     max_size=3)})


@SETTINGS
@given(user_config)
def test_user_config(doc: dict[str, Any]) -> None:
    from microstax.identity import config
    from microstax.identity.exceptions import ConfigError
    try:
        config.parse(doc, Path("/tmp/config.toml"))
    except ConfigError:
        pass


@SETTINGS
@given(keyed(["controller", "entries", "entry", "workloads", "listen", "poll_interval"]) | st.fixed_dictionaries(
    {"entries": st.lists(keyed(["environment", "target", "service", "output", "subject_token_file",
                                "client_id", "client_secret", "renew", "scopes", "audience"]),
                         max_size=3)}))
def test_controller_config(doc: dict[str, Any]) -> None:
    from microstax.controller.config import parse_config
    from microstax.identity.exceptions import ConfigError
    try:
        parse_config(doc, file="controller.toml", path=Path("/tmp/controller.toml"))
    except ConfigError:
        pass


@SETTINGS
@given(keyed(["version", "issuer", "tokens", "limits", "audit", "keys", "dev", "environments",
              "upstreams", "clients", "users", "policy", "state", "tls"]))
def test_platform_config(doc: dict[str, Any]) -> None:
    from microstax.platform import ConfigError
    from microstax.platform.config import parse_config
    try:
        parse_config(doc, file="platform.toml")
    except ConfigError:
        pass


@SETTINGS
@given(keyed(["server", "issuers", "routes", "headers", "kubernetes", "audiences", "leeway"]))
def test_receiver_config(doc: dict[str, Any]) -> None:
    from microstax.receivers.config import ConfigError, parse_config
    try:
        parse_config(doc, base=Path("/tmp"), file="verifier.toml")
    except ConfigError:  # the one error of the verifier config (TomlTable's, translated once)
        pass


@pytest.mark.parametrize("doc", ["leeway = nan", "leeway = inf", "leeway = 1e400", "leeway = -0.0"])
def test_a_nan_leeway_is_refused_not_obeyed(doc: str) -> None:
    from microstax.identity.verification import PolicyError, VerificationPolicy
    from microstax.jose import Policy
    value = loads_toml(doc)["leeway"]
    if value != value or value in (float("inf"), float("-inf")):
        with pytest.raises(PolicyError):
            VerificationPolicy(leeway=value)
        with pytest.raises(ValueError):
            Policy(leeway=value)
    else:
        assert VerificationPolicy(leeway=value).leeway == 0


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc`` (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(doc))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


def _dev_platform_doc() -> dict[str, Any]:
    from microstax.platform.config import dev_config_text
    from microstax.platform.secrets import hash_secret
    return loads_toml(dev_config_text(demo_secret_hash=hash_secret("s", log_n=10),
                                      dev_password_hash=hash_secret("p", log_n=10)))


DEV_PLATFORM = _dev_platform_doc()
DEV_PLATFORM_PATHS = _paths(DEV_PLATFORM)


@SETTINGS
@given(st.sampled_from(DEV_PLATFORM_PATHS), toml_values)
def test_platform_config_with_one_value_replaced(path: tuple[Any, ...], value: Any) -> None:
    """The real dev config with any one value (anywhere) replaced by anything."""
    from microstax.platform import ConfigError
    from microstax.platform.config import parse_config
    try:
        parse_config(_replaced(DEV_PLATFORM, path, value), file="platform.toml")
    except ConfigError:
        pass


USER_DOC: dict[str, Any] = {
    "default_environment": "dev",
    "defaults": {"timeout": 10, "refresh_ahead": 60},
    "environments": {
        "dev": {"platform": "http://127.0.0.1:8411", "scopes": ["federate"],
                "clusters": {"eu": {"token_endpoint": "http://127.0.0.1:8411/oauth/token",
                                    "issuer": "http://127.0.0.1:8411", "audience": "eu",
                                    "header_budget": 8192}}},
        "corp": {"issuer": "https://sso.example.com/realms/corp", "flavour": "keycloak",
                 "client_id": "cli", "workload": {"subject_token_file": "/var/run/token"}},
    },
}
USER_PATHS = _paths(USER_DOC)


@SETTINGS
@given(st.sampled_from(USER_PATHS), toml_values)
def test_user_config_with_one_value_replaced(path: tuple[Any, ...], value: Any) -> None:
    from microstax.identity import config
    from microstax.identity.exceptions import ConfigError
    try:
        config.parse(_replaced(USER_DOC, path, value), Path("/tmp/config.toml"))
    except ConfigError:
        pass


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf", "-1.0", "0"])
@pytest.mark.parametrize("key", ["rate_per_second", "address_rate_per_second", "hash_rate_per_second"])
def test_platform_rates_refuse_nan_and_inf(literal: str, key: str) -> None:
    """A TOML 'nan' rate would compare false against everything: no limit at all."""
    from microstax.platform import ConfigError
    from microstax.platform.config import parse_config
    doc = _replaced(DEV_PLATFORM, ("limits", key), loads_toml(f"x = {literal}")["x"]) \
        if "limits" in DEV_PLATFORM else {**DEV_PLATFORM, "limits": {key: loads_toml(f"x = {literal}")["x"]}}
    with pytest.raises(ConfigError, match=key):
        parse_config(doc, file="platform.toml")
