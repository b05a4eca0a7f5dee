"""Fixtures of the client tests: the real platform on loopback, fake IdPs, a client config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from tests.harness.platform import PlatformServer
from tests.identity.fakeidp import FakeIdP

from microstax.adapters.secrets import MemorySecretStore, SecretStore
from microstax.identity.service import IdentityService


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    """The real platform (dev config, auto-approved device sign-in), shared by a module."""
    overrides = {"limits": {"rate_per_second": 5000, "rate_burst": 5000,
                            "address_rate_per_second": 5000, "address_burst": 5000}}
    with PlatformServer(tmp_path_factory.mktemp("platform"), config_overrides=overrides) as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    monkeypatch.setenv("MICROSTAX_STATE_DIR", str(path))
    monkeypatch.delenv("MICROSTAX_ENV", raising=False)
    monkeypatch.setenv("CI", "true")  # never open a browser
    return path


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    path.write_bytes(tomli_w.dumps(doc).encode())
    return path


@pytest.fixture
def client_config(tmp_path: Path, platform: PlatformServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user config with ``dev`` on the real platform; ``MICROSTAX_CONFIG`` points at it."""
    path = write_config(tmp_path / "config.toml", {
        "default_environment": "dev",
        "defaults": {"timeout": 2.0},
        "environments": {"dev": {"platform": platform.issuer}},
    })
    monkeypatch.setenv("MICROSTAX_CONFIG", str(path))
    return path


@pytest.fixture
def fake_idps() -> Iterator[Callable[..., FakeIdP]]:
    started: list[FakeIdP] = []

    def make(name: str, mode: str = "ok", **kwargs: Any) -> FakeIdP:
        idp = FakeIdP(name, mode, **kwargs).start()
        started.append(idp)
        return idp

    yield make
    for idp in started:
        idp.stop()


@pytest.fixture
async def service_factory(state_dir: Path) -> AsyncIterator[Callable[..., IdentityService]]:
    made: list[IdentityService] = []

    def make(config: Path, *, secrets: SecretStore | None = None, **kwargs: Any) -> IdentityService:
        from microstax.identity import config as config_mod

        svc = IdentityService(config_mod.load(config), config_file=config,
                              secrets=secrets if secrets is not None else MemorySecretStore(),
                              state_directory=state_dir, **kwargs)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        await svc.aclose()
