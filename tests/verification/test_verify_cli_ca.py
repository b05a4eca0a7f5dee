"""``microstax identity verify`` against an https issuer with a private CA (the platform's local
CA, served by the real platform on loopback): trusted through ``--ca-file`` or through the
``ca_file`` of the user config's environment with that issuer, never by turning certificate
checks off; a bad CA file is a clear error with a named exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.harness.platform import PlatformServer
from tests.harness.tls import bad_ca_files, loopback_tls
from tests.integration.cli.cli_helpers import Result, run

from microstax.cli import exit_codes

EU_WEST = "stx-eu-west-cluster"


@dataclass
class World:
    platform: PlatformServer
    token: str
    tmp: Path

    def verify(self, *args: str, config: Path | None = None) -> Result:
        """``microstax identity verify`` with the token on stdin; the user config is
        ``--config config`` (an empty file when None)."""
        if config is None:
            config = self.tmp / "empty.toml"
            config.write_text("")
        got = run("identity", "verify", "-", "--config", str(config), *args, stdin=self.token,
                  secret=self.token)
        assert "Traceback" not in got.err, got.err
        return got

    def user_config(self, name: str, ca_file: str, *, issuer: str | None = None) -> Path:
        """A user config whose ``dev`` environment is the platform (or ``issuer``) with
        ``ca_file``, beside an environment of another issuer with a CA file of its own."""
        path = self.tmp / name
        path.write_text(f'[environments.dev]\nplatform = "{issuer or self.platform.issuer}"\n'
                        f'ca_file = "{ca_file}"\n\n'
                        '[environments.corp]\nissuer = "https://sso.example.com/realms/corp"\n'
                        'ca_file = "/nonexistent/corp-ca.crt"\n')
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("verify-ca")
    with PlatformServer(tmp / "platform", tls=True) as platform:
        assert platform.issuer.startswith("https://")
        token = platform.client_credentials(audience=EU_WEST)["access_token"]
        yield World(platform, token, tmp)


def test_without_the_ca_the_certificate_is_not_trusted(world: World) -> None:
    got = world.verify("--issuer", world.platform.issuer)
    assert got.code == exit_codes.UNAVAILABLE, got.err
    assert "certificate verify failed" in got.err
    assert f"cannot get the keys of issuer {world.platform.issuer}" in got.err
    assert "hint: trust the server's CA with --ca-file PEM" in got.err
    got = world.verify("--json")
    assert got.code == exit_codes.UNAVAILABLE
    error = got.json()["error"]
    assert "certificate verify failed" in error["message"] and "--ca-file" in error["hint"]


def test_ca_file_option(world: World) -> None:
    ca = str(world.platform.ca_file)
    got = world.verify("--ca-file", ca, "--issuer", world.platform.issuer,
                       "--audience", EU_WEST, "--json")
    assert got.code == 0, got.err
    doc = got.json()
    assert doc["valid"] is True and doc["summary"]["verdict"]["pq"] == "verified"
    assert doc["keys"]["issuer"] == world.platform.issuer
    assert doc["keys"]["jwksUri"].startswith("https://")
    assert (doc["checks"]["caFile"], doc["checks"]["caFileFrom"]) == (ca, "--ca-file")
    text = world.verify("--ca-file", ca)
    assert text.code == 0, text.err
    assert f"TLS CA        {ca} (--ca-file)" in text.out


def test_the_environments_ca_file(world: World) -> None:
    ca = str(world.platform.ca_file)
    config = world.user_config("env-ca.toml", ca)
    # the issuer from the token's own 'iss', and pinned with --issuer
    for args in ((), ("--issuer", world.platform.issuer)):
        got = world.verify(*args, "--json", config=config)
        assert got.code == 0, got.err
        assert got.json()["checks"]["caFile"] == ca
        assert got.json()["checks"]["caFileFrom"] == "ca_file of environment dev"
    # an environment of another issuer lends its CA to nobody else
    other = world.user_config("other-issuer.toml", ca, issuer="https://127.0.0.1:9")
    got = world.verify(config=other)
    assert got.code == exit_codes.UNAVAILABLE and "certificate verify failed" in got.err


def test_an_explicit_ca_file_wins(world: World) -> None:
    stranger = loopback_tls(world.tmp / "stranger")  # a CA that did not sign the platform's cert
    config = world.user_config("stranger.toml", str(stranger.ca_file))
    got = world.verify(config=config)
    assert got.code == exit_codes.UNAVAILABLE and "certificate verify failed" in got.err
    assert (f"signed neither by a CA of the system nor by the CA in {stranger.ca_file} "
            "(ca_file of environment dev)") in got.err
    good = world.verify("--ca-file", str(world.platform.ca_file), "--json", config=config)
    assert good.code == 0, good.err
    assert good.json()["checks"]["caFileFrom"] == "--ca-file"
    wrong = world.verify("--ca-file", str(stranger.ca_file))
    assert wrong.code == exit_codes.UNAVAILABLE
    assert f"nor by the CA in {stranger.ca_file} (--ca-file)" in wrong.err


def test_a_bad_ca_file_option_is_a_usage_error(world: World) -> None:
    for path, says in bad_ca_files(world.tmp).values():
        got = world.verify("--ca-file", str(path))
        assert got.code == exit_codes.USAGE, (path, got.err)
        assert got.err.startswith(f"error: --ca-file: the CA file {path} {says}"), got.err
        assert "hint: give the CA certificate (PEM)" in got.err


def test_a_bad_ca_file_in_the_config_is_a_config_error(world: World) -> None:
    for name, (path, says) in bad_ca_files(world.tmp).items():
        config = world.user_config(f"bad-{name}.toml", str(path))
        got = world.verify(config=config)
        assert got.code == exit_codes.CONFIG, (path, got.err)
        assert got.err.startswith(f"error: {config}: environments.dev.ca_file: the CA file {path} "
                                  f"{says}"), got.err
        assert f"hint: point ca_file at the CA certificate (PEM) in {config}, or pass --ca-file" in got.err


def test_offline_verification_reads_no_ca(world: World) -> None:
    """With JWKS files nothing is fetched: neither the config's CA nor --ca-file is read."""
    sets = []
    for name in ("jwks.json", "pq-jwks.json"):
        response = httpx.get(f"{world.platform.issuer}/{name}", verify=world.platform.verify, timeout=10)
        path = world.tmp / f"offline-{name}"
        path.write_bytes(response.raise_for_status().content)
        sets += ["--jwks", str(path)]
    missing, _ = bad_ca_files(world.tmp)["missing"]
    config = world.user_config("offline.toml", str(missing))
    for extra in ((), ("--ca-file", str(missing))):
        got = world.verify(*sets, "--issuer", world.platform.issuer, *extra, "--json", config=config)
        assert got.code == 0, got.err
        assert got.json()["checks"]["caFile"] is None
