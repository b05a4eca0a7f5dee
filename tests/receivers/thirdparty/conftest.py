"""One https platform and one of each real classical receiver for the whole session.

The receivers get only the platform's issuer URL, its ``jwks_uri`` (from discovery) and its CA
file (tests/harness/receivers_thirdparty.py). Tokens come from the real CLI
(``microstax identity federate``) signed in to that platform; the expired one is minted with
the platform's own signing keys, so only its ``exp`` is wrong.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness.cliuser import CliUser
from tests.harness.platform import MICROSTAX, PlatformServer
from tests.harness.receivers_thirdparty import (
    OTHER_CLUSTER,
    RECEIVERS,
    TARGET,
    ClassicalTokens,
    Receiver,
    TrustedIssuer,
    claims_of,
    token_variants,
)


@pytest.fixture(scope="session")
def tls_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("classical-platform"), tls=True) as platform:
        yield platform


@pytest.fixture(scope="session")
def trusted_issuer(tls_platform: PlatformServer) -> TrustedIssuer:
    return TrustedIssuer.discover(tls_platform.issuer, tls_platform.ca_file)


def _mint_like(platform: PlatformServer, token: str, *, exp_offset: int) -> str:
    """Re-sign ``token``'s claims with the platform's own keys, ``exp`` moved to now + offset."""
    claims = claims_of(token)
    now = int(time.time())
    claims.update(exp=now + exp_offset, iat=min(now, now + exp_offset - 300))
    claims.pop("jti", None)
    out = subprocess.run([str(MICROSTAX), "token", "mint", "--keys", str(platform.data_dir),
                          "--claims-json", "-"], input=json.dumps(claims), capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def cli_user(tls_platform: PlatformServer, tmp_path_factory: pytest.TempPathFactory) -> CliUser:
    """A user of the real CLI, signed in to the https platform (trusting its CA by name)."""
    user = CliUser(tmp_path_factory.mktemp("classical-user"), platform_url=tls_platform.issuer,
                   ca_file=tls_platform.ca_file)
    user.run("login").check()
    return user


class TokenSource:
    """The matrix's tokens, made once and made again when the good one nears its ``exp`` (a
    slow session, e.g. one that waited for a build, outlives the platform's 300 s tokens)."""

    MIN_LEFT_S = 120

    def __init__(self, platform: PlatformServer, user: CliUser) -> None:
        self.platform = platform
        self.user = user
        self._tokens: ClassicalTokens | None = None

    def current(self) -> ClassicalTokens:
        if self._tokens is None or claims_of(self._tokens.good)["exp"] - time.time() < self.MIN_LEFT_S:
            self._tokens = self._make()
        return self._tokens

    def _make(self) -> ClassicalTokens:
        run = self.user.run
        good = run("identity", "federate", "--force", "--target", TARGET).check().out.strip()
        other = run("identity", "federate", "--force", "--target", OTHER_CLUSTER).check().out.strip()
        variants = token_variants(good)
        return ClassicalTokens(good=good, wrong_audience=other,
                               expired=_mint_like(self.platform, good, exp_offset=-3600),
                               fresh_minted=_mint_like(self.platform, good, exp_offset=300),
                               tampered=variants["tampered"], pq_stripped=variants["pq_stripped"])


@pytest.fixture(scope="session")
def token_source(tls_platform: PlatformServer, cli_user: CliUser) -> TokenSource:
    return TokenSource(tls_platform, cli_user)


@pytest.fixture
def tokens(token_source: TokenSource) -> ClassicalTokens:
    return token_source.current()


@pytest.fixture(scope="session", params=sorted(RECEIVERS))
def receiver(request: pytest.FixtureRequest, trusted_issuer: TrustedIssuer) -> Iterator[Receiver]:
    # Not under pytest's tmp dir (0700): Apache's worker user must read its config dir.
    workdir = Path(tempfile.mkdtemp(prefix=f"microstax-{request.param}-"))
    workdir.chmod(0o755)
    with RECEIVERS[request.param](workdir, trusted_issuer, audience=TARGET) as started:
        yield started
    if request.session.testsfailed:
        print(f"\n{request.param}: config and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    started = getattr(item, "funcargs", {}).get("receiver")
    if report.failed and started is not None:
        report.sections.append((f"{started.name} logs", started.log_tail()))
