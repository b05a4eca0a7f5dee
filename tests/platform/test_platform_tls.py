"""The platform speaks TLS: ``platform init`` makes a local CA and a loopback certificate,
``serve --tls`` / ``--tls-cert/--tls-key`` / ``[tls]`` serve https with an https issuer, and
the CLI trusts the CA because the user config names it (``ca_file``), never by switching
verification off."""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from tests.harness.cliuser import CliUser
from tests.harness.platform import MICROSTAX, PlatformServer

from microstax.cli import exit_codes
from microstax.cli.main import main
from microstax.identity import config as user_config
from microstax.identity.exceptions import ConfigError
from microstax.identity.service import IdentityService
from microstax.platform import ConfigError as PlatformConfigError
from microstax.platform import load_config
from microstax.platform.tls import ensure_dev_tls


def test_init_makes_a_local_ca_and_a_loopback_certificate(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["platform", "init", "--data-dir", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    tls = tmp_path / "tls"
    assert doc["caFile"] == str(tls / "ca.crt")
    assert {str(tls / n) for n in ("ca.crt", "ca.key", "server.crt", "server.key")} <= set(doc["created"])
    for key in ("ca.key", "server.key"):
        assert (tls / key).stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((tls / "server.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    before = (tls / "server.crt").read_bytes()
    assert main(["platform", "init", "--data-dir", str(tmp_path)]) == 0  # idempotent
    assert (tls / "server.crt").read_bytes() == before


def test_serve_tls_has_an_https_issuer_trusted_only_through_its_ca(tmp_path: Path) -> None:
    with PlatformServer(tmp_path / "p", tls=True) as platform:
        assert platform.issuer.startswith("https://127.0.0.1:")
        meta = httpx.get(f"{platform.issuer}/.well-known/openid-configuration", verify=platform.verify).json()
        assert meta["issuer"] == platform.issuer
        assert meta["token_endpoint"].startswith("https://") and meta["jwks_uri"].startswith("https://")
        assert platform.client_credentials()["access_token"]
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{platform.issuer}/healthz")  # the system's trust alone: refused
        with pytest.raises(httpx.TransportError):  # no plain http on the TLS port
            httpx.get(platform.issuer.replace("https:", "http:") + "/healthz")


def test_cli_trusts_the_platform_ca_named_in_the_user_config(tmp_path: Path) -> None:
    with PlatformServer(tmp_path / "p", tls=True) as platform:
        user = CliUser(tmp_path / "u", platform_url=platform.issuer, ca_file=platform.ca_file)
        user.run("login").check()
        token = user.federate("stx-eu-west-cluster")
        assert token.count(".") == 2
        stranger = CliUser(tmp_path / "s", platform_url=platform.issuer)
        r = stranger.run("login")
        assert r.code == exit_codes.UNAVAILABLE
        assert "CERTIFICATE_VERIFY_FAILED" in r.err


def test_tls_files_are_checked_before_serving(tmp_path: Path) -> None:
    assert main(["platform", "init", "--data-dir", str(tmp_path)]) == 0
    missing = tmp_path / "nope.crt"
    r = subprocess.run([str(MICROSTAX), "platform", "serve", "--data-dir", str(tmp_path), "--port", "0",
                        "--tls-cert", str(missing), "--tls-key", str(tmp_path / "tls" / "server.key")],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == exit_codes.CONFIG
    assert f"{missing}: no such file" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([str(MICROSTAX), "platform", "serve", "--data-dir", str(tmp_path), "--port", "0",
                        "--tls-cert", str(tmp_path / "tls" / "server.crt"),
                        "--tls-key", str(tmp_path / "tls" / "ca.key")],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == exit_codes.CONFIG
    assert "not a usable certificate and key pair" in r.stderr
    config = tmp_path / "platform.toml"
    config.write_text(config.read_text() + '\n[tls]\ncert_file = "tls/server.crt"\n')
    r = subprocess.run([str(MICROSTAX), "platform", "serve", "--data-dir", str(tmp_path), "--port", "0"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == exit_codes.CONFIG
    assert "tls.key_file: give both cert_file and key_file" in r.stderr


def test_tls_table_in_the_config_serves_https(tmp_path: Path) -> None:
    data = tmp_path / "p"
    server = PlatformServer(data, config_overrides={"tls": {"cert_file": "tls/server.crt",
                                                            "key_file": "tls/server.key"}})
    with server:
        assert server.issuer.startswith("https://")
        ok = httpx.get(f"{server.issuer}/healthz",
                       verify=ssl.create_default_context(cafile=str(data / "tls" / "ca.crt")))
        assert ok.status_code == 200


def test_user_config_ca_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    doc = {"environments": {"dev": {"platform": "https://127.0.0.1:9", "ca_file": "ca.pem"},
                            "other": {"platform": "https://127.0.0.1:10", "ca_file": "~/x.pem"}}}
    config = user_config.parse(doc, tmp_path / "config.toml")
    assert config.environments["dev"].ca_file == str(tmp_path / "ca.pem")
    assert not config.environments["other"].ca_file.startswith("~")  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="holds no usable PEM certificate"):
        IdentityService(user_config.parse({"environments": {"dev": doc["environments"]["dev"]}},
                                          tmp_path / "config.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        IdentityService(config)


async def test_catalog_lists_api_server_and_its_ca(make_inproc: Any, tmp_path: Path) -> None:
    mx = await make_inproc()
    ensure_dev_tls(tmp_path / "kube")
    ca_pem = (tmp_path / "kube" / "tls" / "ca.crt").read_text()
    (tmp_path / "not-pem.crt").write_text("hello\n")

    def configure(doc: dict[str, Any]) -> dict[str, Any]:
        clusters = doc["environments"][0]["clusters"]
        clusters[0].update({"api_server": "https://127.0.0.1:6443/",
                            "api_server_ca_file": str(tmp_path / "kube" / "tls" / "ca.crt")})
        clusters[1].update({"api_server": "https://127.0.0.1:7443",
                            "api_server_ca_file": str(tmp_path / "not-pem.crt")})
        return doc

    mx.edit_config(configure)
    mx.platform.reload_config(force=True)
    doc = (await mx.client.get("/v1/catalog")).json()
    first, second, third = doc["environments"][0]["clusters"][:3]
    assert first["apiServer"] == "https://127.0.0.1:6443" and first["apiServerCA"] == ca_pem
    assert second["apiServer"] == "https://127.0.0.1:7443" and second["apiServerCA"] is None  # logged
    assert "apiServer" not in third

    mx.edit_config(lambda d: (d["environments"][0]["clusters"][0].update({"api_server": "http://x"}), d)[1])
    with pytest.raises(PlatformConfigError, match="api_server: must be an https URL"):
        load_config(mx.config_path)
