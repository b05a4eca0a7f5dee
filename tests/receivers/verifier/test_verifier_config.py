"""The verifier's config file (``receivers.config``): read through ``jose.TomlTable``, so every
mistake is worded ``file: key: problem`` as in the other config files; defaults, relative
paths, route matching; ``load_config`` on real files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from microstax.receivers.config import ConfigError, load_config, parse_config

BASE: dict[str, Any] = {"issuers": [{"issuer": "https://issuer.example"}],
                        "routes": [{"prefix": "/", "audience": "c1"}]}
NOWHERE = Path("/nonexistent")


def parse(doc: dict[str, Any], base: Path = NOWHERE) -> Any:
    return parse_config(doc, base=base, file="v.toml")


def message(doc: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse(doc)
    return info.value.message


def test_defaults() -> None:
    config = parse(BASE)
    assert (config.host, config.port, config.max_header_bytes) == ("127.0.0.1", 9191, 16384)
    assert (config.audit, config.leeway, config.cache_entries, config.typ) == ("stderr", 30.0, 4096, ("at+jwt",))
    (issuer,) = config.issuers
    assert issuer.hybrid == "required"  # a receiver demands the PQ part by default
    assert (issuer.jwks, issuer.ca_file, issuer.allow_http, issuer.jwt_svid) == ((), None, False, None)
    assert config.route("/anything").audience == "c1"
    assert config.kubernetes is None and config.source is None
    assert config.headers.subject == "x-microstax-subject"


@pytest.mark.parametrize(("change", "expected"), [
    # top level
    ({"listen": 1}, "v.toml: listen: unknown key (typo?)"),
    ({"isuers": []}, "v.toml: isuers: unknown key (a typo of 'issuers'?)"),
    ({"server": []}, "v.toml: server: expected a table, got an array"),
    ({"kubernetes": "on"}, "v.toml: kubernetes: expected a table, got a string"),
    ({"routes": []}, "v.toml: routes: no [[routes]] and no [kubernetes]: nothing to verify for"),
    ({"routes": {"audience": "c"}}, "v.toml: routes: expected an array of tables ([[routes]])"),
    # [server]
    ({"server": {"colour": "blue"}}, "v.toml: server.colour: unknown key (typo?)"),
    ({"server": {"prot": 1}}, "v.toml: server.prot: unknown key (a typo of 'port'?)"),
    ({"server": {"port": 70000}}, "v.toml: server.port: must be at least 0 and at most 65535"),
    ({"server": {"port": True}}, "v.toml: server.port: expected an integer, got true/false"),
    ({"server": {"port": 9191.0}}, "v.toml: server.port: expected an integer, got a float"),
    ({"server": {"max_header_bytes": 100}}, "v.toml: server.max_header_bytes: must be at least 1024 and at most 65536"),
    ({"server": {"leeway": float("nan")}}, "v.toml: server.leeway: expected a finite number (not nan or inf)"),
    ({"server": {"leeway": 301}}, "v.toml: server.leeway: must be at least 0 and at most 300"),
    ({"server": {"leeway": "30s"}}, "v.toml: server.leeway: expected a number, got a string"),
    ({"server": {"cache_entries": -1}}, "v.toml: server.cache_entries: must be at least 0 and at most 1000000"),
    ({"server": {"host": ""}}, "v.toml: server.host: must not be empty"),
    ({"server": {"audit": 1}}, "v.toml: server.audit: expected a string, got an integer"),
    ({"server": {"typ": []}}, 'v.toml: server.typ: must list the accepted types, or be "any"'),
    ({"server": {"typ": "JWT"}}, "v.toml: server.typ: expected a list of non-empty strings"),
    ({"server": {"typ": ["at+jwt", " "]}}, "v.toml: server.typ: expected a list of non-empty strings"),
    # [[issuers]]
    ({"issuers": []}, "v.toml: issuers: no [[issuers]] tables; name at least one trusted issuer"),
    ({"issuers": {"issuer": "https://a"}}, "v.toml: issuers: expected an array of tables ([[issuers]])"),
    ({"issuers": [{"issuer": "https://a"}, {"issuer": "https://b"}, {"issuer": "https://a"}]},
     "v.toml: issuers[2].issuer: the same issuer as issuers[0]; list each issuer once"),
    ({"issuers": [{"issuer": "https://a", "hybrid": "maybe"}]},
     "v.toml: issuers[0].hybrid: must be 'auto', 'required' or 'classical-only' (not 'maybe')"),
    ({"issuers": [{"isuer": "https://a"}]}, "v.toml: issuers[0].isuer: unknown key (a typo of 'issuer'?)"),
    ({"issuers": [{"issuer": "https://a", "audience": "c"}]}, "v.toml: issuers[0].audience: unknown key (typo?)"),
    ({"issuers": [{"hybrid": "auto"}]}, "v.toml: issuers[0].issuer: is required"),
    ({"issuers": [{"issuer": 42}]}, "v.toml: issuers[0].issuer: expected a string, got an integer"),
    ({"issuers": [{"issuer": ""}]}, "v.toml: issuers[0].issuer: must not be empty"),
    ({"issuers": [{"issuer": "https://a", "discovery_url": ["x"]}]},
     "v.toml: issuers[0].discovery_url: expected a string, got an array"),
    ({"issuers": [{"issuer": "https://a", "allow_http": "yes"}]},
     "v.toml: issuers[0].allow_http: expected true or false, got a string"),
    ({"issuers": [{"issuer": "https://a", "jwt_svid": 1}]},
     "v.toml: issuers[0].jwt_svid: expected true or false, got an integer"),
    ({"issuers": [{"issuer": "https://a", "jwks": 5}]},
     "v.toml: issuers[0].jwks: expected a list of non-empty strings (or one string)"),
    ({"issuers": [{"issuer": "https://a", "ca_file": "nope.crt"}]},
     "v.toml: issuers[0].ca_file: names /nonexistent/nope.crt, which is not a readable file"),
    # [[routes]]
    ({"routes": [{"prefix": "/"}]}, "v.toml: routes[0].audience: is required"),
    ({"routes": [{"audince": "c"}]}, "v.toml: routes[0].audince: unknown key (a typo of 'audience'?)"),
    ({"routes": [{"audience": "c"}, {"prefix": "api", "audience": "c"}]}, "v.toml: routes[1].prefix: must start with '/'"),
    ({"routes": [{"audience": "c", "scope": ["x"]}]}, "v.toml: routes[0].scope: unknown key (a typo of 'scopes'?)"),
    ({"routes": [{"audience": "c", "scopes": "read"}]}, "v.toml: routes[0].scopes: expected a list of non-empty strings"),
    ({"routes": [{"audience": "c", "services": [""]}]}, "v.toml: routes[0].services: expected a list of non-empty strings"),
    ({"routes": [{"audience": "  "}]}, "v.toml: routes[0].audience: must not be empty"),
    # [headers]
    ({"headers": {"subject": "x y"}}, "v.toml: headers.subject: must be a header name (letters, digits, '-')"),
    ({"headers": {"subjet": "x-s"}}, "v.toml: headers.subjet: unknown key (a typo of 'subject'?)"),
    ({"headers": {"subject": "x-a", "actor": "X-A"}},
     "v.toml: headers.actor: is 'x-a', the same name as headers.subject; each identity header needs its own name"),
    ({"headers": {"subject": "x-microstax-actor"}},
     "v.toml: headers.actor: is 'x-microstax-actor', the same name as headers.subject; "
     "each identity header needs its own name"),
    # [kubernetes]
    ({"kubernetes": {"cluster": "c", "cert_file": "nope.crt", "key_file": "nope.key"}},
     "v.toml: kubernetes.cert_file: names /nonexistent/nope.crt, which is not a readable file"),
    ({"kubernetes": {"cluster": "c", "key_file": "nope.key"}}, "v.toml: kubernetes.cert_file: is required"),
    ({"kubernetes": {"clustr": "c"}}, "v.toml: kubernetes.clustr: unknown key (a typo of 'cluster'?)"),
])
def test_a_mistake_names_the_file_the_key_and_the_problem(change: dict[str, Any], expected: str) -> None:
    assert message({**BASE, **change}) == expected


def test_a_value_of_the_wrong_type_is_never_echoed() -> None:
    for doc in ({"server": {"port": "hunter2"}}, {"issuers": [{"issuer": "https://a", "allow_http": "hunter2"}]},
                {"routes": [{"audience": "c", "scopes": "hunter2"}]}):
        assert "hunter2" not in message({**BASE, **doc})


def test_values_lose_their_surrounding_blanks_but_the_issuer_is_kept_exact() -> None:
    config = parse({"issuers": [{"issuer": "https://issuer.example/"}],
                    "routes": [{"prefix": " /api ", "audience": " c1 ", "scopes": [" read "]}],
                    "headers": {"subject": " X-Sub "}, "server": {"typ": [" at+jwt "]}})
    assert config.issuers[0].issuer == "https://issuer.example/"
    rule = config.routes[0]
    assert (rule.prefix, rule.audience, rule.scopes) == ("/api", "c1", ("read",))
    assert config.headers.subject == "x-sub" and config.typ == ("at+jwt",)


def test_issuer_settings(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("pem")
    (tmp_path / "keys").mkdir()
    config = parse({**BASE, "issuers": [
        {"issuer": "https://a", "ca_file": "ca.crt", "jwks": ["keys/jwks.json", "/abs/pq.json", "https://a/jwks"],
         "allow_http": True, "hybrid": "classical-only", "jwt_svid": True, "discovery_url": "https://a/.well-known/x"},
        {"issuer": "https://b", "jwks": "b.json", "jwt_svid": False, "hybrid": "auto"},
    ]}, base=tmp_path)
    a, b = config.issuers
    assert a.ca_file == str(tmp_path / "ca.crt")
    # JWKS files are relative to the config's folder (read when a token needs them); URLs as given
    assert a.jwks == (str(tmp_path / "keys/jwks.json"), "/abs/pq.json", "https://a/jwks")
    assert (a.allow_http, a.hybrid, a.jwt_svid, a.discovery_url) == (True, "classical-only", True, "https://a/.well-known/x")
    assert (b.jwks, b.jwt_svid, b.hybrid) == ((str(tmp_path / "b.json"),), False, "auto")


def test_the_kubernetes_webhook(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "tls.key").write_text("key")
    config = parse({"issuers": BASE["issuers"],
                    "kubernetes": {"cluster": "c", "cert_file": "tls.crt", "key_file": str(tmp_path / "tls.key"),
                                   "port": 0}}, base=tmp_path)
    kube = config.kubernetes
    assert (kube.cluster, kube.cert_file, kube.key_file) == ("c", tmp_path / "tls.crt", tmp_path / "tls.key")
    assert (kube.host, kube.port, kube.path, kube.group_prefix) == ("127.0.0.1", 0, "/tokenreview", "microstax:scope:")
    assert config.routes == ()
    with pytest.raises(ConfigError, match=r"^v.toml: kubernetes.path: must start with '/'$"):
        parse({"issuers": BASE["issuers"], "kubernetes": {"cluster": "c", "cert_file": "tls.crt",
                                                          "key_file": "tls.key", "path": "review"}}, base=tmp_path)


def test_typ_setting() -> None:
    assert parse(BASE).verification_policy().typ == ("at+jwt",)
    assert parse({**BASE, "server": {"typ": "any"}}).verification_policy().typ is None
    assert parse({**BASE, "server": {"typ": ["at+jwt", "JWT"]}}).typ == ("at+jwt", "JWT")


def test_route_prefixes() -> None:
    config = parse({**BASE, "routes": [{"prefix": "/admin", "audience": "a"},
                                       {"prefix": "/api/", "audience": "b"}]})
    assert config.route("/admin").audience == "a"
    assert config.route("/admin/x").audience == "a"
    assert config.route("/administrator") is None
    assert config.route("/api/x").audience == "b"
    assert config.route("/") is None


@pytest.mark.parametrize("path", ["/public/../admin", "//admin", "/./admin/x", "/x/../../admin"])
def test_dot_segments_cannot_sidestep_a_route(path: str) -> None:
    config = parse({**BASE, "routes": [{"prefix": "/admin", "audience": "a"},
                                       {"prefix": "/", "audience": "b"}]})
    assert config.route(path).audience == "a"


# -- files -----------------------------------------------------------------------------------
def test_load_config_reads_the_file_and_resolves_against_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "verifier.toml"
    path.write_text('[server]\naudit = "audit.log"\n[[issuers]]\nissuer = "https://i"\n'
                    '[[routes]]\naudience = "c"\n')
    config = load_config(path)
    assert config.source == path and config.audit == str(tmp_path / "audit.log")
    assert config.issuers[0].issuer == "https://i"


def test_load_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.message == f"{missing}: no such file"
    assert info.value.hint is not None and "--config" in info.value.hint

    bad = tmp_path / "bad.toml"
    bad.write_text("[[issuers]\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: not valid TOML: "):
        load_config(bad)
    bad.write_bytes(b"\xff\xfe = 1")
    with pytest.raises(ConfigError, match=rf"^{bad}: not valid TOML: "):
        load_config(bad)
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: cannot read the config file: is a directory"):
        load_config(tmp_path)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match=rf"^{big}: cannot read the config file: "):
        load_config(big)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=rf"^{fifo}: cannot read the config file: is a FIFO"):
        load_config(fifo)

    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[[issuers]]\nissuer = "https://i"\nhybrid = "maybe"\n[[routes]]\naudience = "c"\n')
    with pytest.raises(ConfigError) as info:
        load_config(wrong)
    assert info.value.message == f"{wrong}: issuers[0].hybrid: must be 'auto', 'required' or 'classical-only' (not 'maybe')"
