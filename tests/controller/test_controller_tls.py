"""The controller against the real platform served over https with its local CA (``platform
serve --tls``): an entry with ``ca_file`` (its own, or ``[defaults]``'s) trusts that CA for
every call it makes (discovery, catalog, token endpoint, JWKS, a cluster's own issuer too) and
writes its token; an entry without it fails with cause ``network`` (the certificate is not
trusted), and the controller keeps going. A bad ``ca_file`` is a config error naming the file
and the key; a CA file replaced in place is read again at the next attempt."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.controller.ctlkit import (
    MICROSTAX,
    ControllerProcess,
    client_workload,
    controller_toml,
    running,
    secret_file,
)
from tests.harness.platform import PlatformServer
from tests.harness.tls import bad_ca_files, loopback_tls

from microstax.controller import parse_config
from microstax.controller.acquire import Acquired, Acquirer, cause_of
from microstax.controller.config import EntrySpec
from microstax.identity.exceptions import ConfigError, IdentityError, IdpUnavailable
from microstax.jose import KeySet, Policy, check, parse
from microstax.oauth.http import make_async_client

EU_WEST, AP_SOUTH = "stx-eu-west-cluster", "stx-ap-south-cluster"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("tls-platform"), tls=True,
                        config_overrides={"tokens": {"lifetime": 60}}) as server:
        assert server.issuer.startswith("https://")
        yield server


def config_doc(issuer: str, secret: Path, out: Path, *, workload_extra: str = "",
               defaults_extra: str = "") -> str:
    text = controller_toml(issuer, [client_workload("w", [EU_WEST], secret, out, workload_extra)])
    return text.replace("[defaults]\n", f"[defaults]\n{defaults_extra}", 1)


def attempt(spec: EntrySpec, acquirer: Acquirer | None = None) -> Acquired | IdentityError:
    """One attempt, as the loop makes it (a fresh acquirer unless one is given)."""
    async def main() -> Acquired | IdentityError:
        own = acquirer or Acquirer(make_async_client())
        try:
            return await own.acquire(spec)
        except IdentityError as exc:
            return exc
        finally:
            if acquirer is None:
                await own.aclose()

    return asyncio.run(main())


def test_process_writes_tokens_with_ca_file_and_reports_network_without(
        tmp_path: Path, platform: PlatformServer) -> None:
    secret = secret_file(tmp_path, platform)
    out = tmp_path / "out"
    config = tmp_path / "controller.toml"
    config.write_text(controller_toml(platform.issuer, [
        # a cluster with its own issuer too: its token endpoint and JWKS are reached the same way
        client_workload("trusted", [EU_WEST, AP_SOUTH], secret, out,
                        f'ca_file = "{platform.ca_file}"\n'),
        client_workload("untrusted", [EU_WEST], secret, out),
    ]))
    with running(ControllerProcess(config, tmp_path)) as ctl:
        ctl.wait_event("token_issued", count=2, timeout=60)
        failed = ctl.wait_event("refresh_failed", timeout=60)
        status, body = ctl.health()
    assert failed["workload"] == "untrusted" and failed["cause"] == "network", failed
    assert "certificate verify failed" in failed["msg"], failed
    assert {(e["workload"], e["target"]) for e in ctl.events("token_issued")} == {
        ("trusted", EU_WEST), ("trusted", AP_SOUTH)}
    assert status == 503 and not body["ready"]
    entries = {(e["workload"], e["target"]): e for e in body["entries"]}
    assert entries[("trusted", EU_WEST)]["status"] == "ok"
    assert entries[("untrusted", EU_WEST)]["lastError"]["cause"] == "network"
    assert not (out / f"untrusted-{EU_WEST}.jwt").exists()
    for target in (EU_WEST, AP_SOUTH):  # what was written verifies against its issuer's keys
        token = parse((out / f"trusted-{target}.jwt").read_text().strip())
        issuer = token.claims["iss"]
        jwks = httpx.get(f"{issuer}/jwks.json", verify=platform.verify, timeout=10)
        verdict, _, error = check(token, KeySet.from_jwks(jwks.raise_for_status().json()),
                                  Policy(issuer=issuer, audience=target))
        assert error is None, verdict


def test_defaults_ca_file_serves_every_call_of_an_entry(tmp_path: Path, platform: PlatformServer) -> None:
    secret = secret_file(tmp_path, platform)
    (tmp_path / "ca").mkdir()
    shutil.copy(platform.ca_file, tmp_path / "ca" / "platform-ca.crt")
    doc = config_doc(platform.issuer, secret, tmp_path / "out",
                     defaults_extra='ca_file = "ca/platform-ca.crt"\n')  # relative: to the file
    spec = parse_config(tomllib.loads(doc), path=tmp_path / "controller.toml").entries[0]
    assert spec.ca_file == tmp_path / "ca" / "platform-ca.crt"
    got = attempt(spec)
    assert isinstance(got, Acquired), got
    assert got.target.issuer == platform.issuer and got.meta.expires_at > got.meta.issued_at
    without = attempt(EntrySpec(**{**_fields(spec), "ca_file": None}))
    assert isinstance(without, IdpUnavailable), without
    assert cause_of(without) == "network"
    assert "certificate verify failed" in without.message


def _fields(spec: EntrySpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in EntrySpec.__slots__}  # type: ignore[attr-defined]


def test_a_ca_file_replaced_in_place_is_read_again(tmp_path: Path, platform: PlatformServer) -> None:
    """One acquirer (as in the running controller): the CA file becomes another CA (the
    platform's certificate is no longer trusted: ``network``), then unusable (``config``), then
    the platform's CA again (a token)."""
    secret = secret_file(tmp_path, platform)
    ca = tmp_path / "ca.crt"
    shutil.copy(platform.ca_file, ca)
    doc = config_doc(platform.issuer, secret, tmp_path / "out", workload_extra=f'ca_file = "{ca}"\n')
    spec = parse_config(tomllib.loads(doc), path=tmp_path / "controller.toml").entries[0]
    stranger = loopback_tls(tmp_path / "stranger")

    async def main() -> list[Acquired | IdentityError]:
        acquirer = Acquirer(make_async_client())
        results: list[Acquired | IdentityError] = []
        try:
            for content in (platform.ca_file, stranger.ca_file, None, platform.ca_file):
                tmp = ca.with_name(".ca.crt.new")
                if content is None:
                    tmp.write_text("not a certificate\n")
                else:
                    shutil.copy(content, tmp)
                os.replace(tmp, ca)  # as a rotated Secret: a new file in the same place
                try:
                    results.append(await acquirer.acquire(spec))
                except IdentityError as exc:
                    results.append(exc)
        finally:
            await acquirer.aclose()
        return results

    first, foreign, broken, again = asyncio.run(main())
    assert isinstance(first, Acquired) and isinstance(again, Acquired), (first, again)
    assert isinstance(foreign, IdpUnavailable) and cause_of(foreign) == "network", foreign
    assert "certificate verify failed" in foreign.message
    assert isinstance(broken, ConfigError) and cause_of(broken) == "config", broken
    assert broken.message == f"ca_file: the CA file {ca} holds no usable PEM certificate (SSLError)"


@pytest.mark.parametrize("where", ["workload", "defaults"])
def test_a_bad_ca_file_is_a_config_error(tmp_path: Path, where: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    for path, says in bad_ca_files(tmp_path / "bad").values():
        line = f'ca_file = "{path}"\n'
        doc = config_doc("https://127.0.0.1:9", secret, tmp_path / "out",
                         **({"workload_extra": line} if where == "workload" else {"defaults_extra": line}))
        with pytest.raises(ConfigError) as caught:
            parse_config(tomllib.loads(doc), file="ctl.toml", path=tmp_path / "ctl.toml")
        key = "workload[0].ca_file" if where == "workload" else "defaults.ca_file"
        assert caught.value.message.startswith(f"ctl.toml: {key}: the CA file {path} {says}")
        assert caught.value.hint is not None and "CA certificate (PEM)" in caught.value.hint
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(config_doc("https://127.0.0.1:9", secret, tmp_path / "out",
                                              workload_extra="ca_file = 3\n")), file="ctl.toml")
    assert caught.value.message == "ctl.toml: workload[0].ca_file: expected a string, got an integer"


def test_check_refuses_a_bad_ca_file(tmp_path: Path) -> None:
    """``microstax identity controller --check``: exit 6, one config_invalid line, no traceback."""
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    fifo, says = bad_ca_files(tmp_path / "bad")["fifo"]
    config = tmp_path / "controller.toml"
    config.write_text(config_doc("https://127.0.0.1:9", secret, tmp_path / "out",
                                 defaults_extra=f'ca_file = "{fifo}"\n'))
    proc = subprocess.run([str(MICROSTAX), "identity", "controller", "--config", str(config), "--check"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 6, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{config}: defaults.ca_file: the CA file {fifo} {says}" in proc.stderr


def test_check_shows_each_entrys_ca_file(tmp_path: Path, platform: PlatformServer) -> None:
    """``--check`` lists the CA file each entry will trust (``caFile``)."""
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    config = tmp_path / "controller.toml"
    config.write_text(config_doc(platform.issuer, secret, tmp_path / "out",
                                 workload_extra=f'ca_file = "{platform.ca_file}"\n'))
    proc = subprocess.run([str(MICROSTAX), "identity", "controller", "--config", str(config), "--check"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)["entries"]
    assert entries and {e["caFile"] for e in entries} == {str(platform.ca_file)}
