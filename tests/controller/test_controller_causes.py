"""Every ``cause`` label of ``microstax_controller_refresh_failures_total`` (docs/controller.md),
each from a real answer: the platform on loopback (``denied``, ``config``, ``subject``,
``secret``, and tokens it issues), a scripted identity provider on loopback (``network``,
``unavailable``, ``rate_limited``, ``protocol``, ``discovery``, ``verify``).

The attempt goes through the controller's network half (``Acquirer.acquire``: the identity
layer's one exchanger and one error translation); the label is read from the identity error's
class and details (``acquire.cause_of``), never from its text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.controller.ctlkit import (
    K8S_ISSUER,
    K8S_SA,
    ORDERS_ID,
    SPIRE_ISSUER,
    UpstreamIssuer,
    kubelet_write,
    secret_file,
    upstream_overrides,
)
from tests.harness.loopback_http import Issuer
from tests.harness.net import free_port
from tests.harness.platform import PlatformServer

from microstax.controller.acquire import Acquired, Acquirer, cause_of, failure_message
from microstax.controller.config import ClientSpec, EntrySpec, SubjectSpec
from microstax.identity import exceptions as errors
from microstax.identity.exceptions import IdentityError
from microstax.jose import HybridSigner, sign
from microstax.oauth.http import make_async_client

EU_WEST = "stx-eu-west-cluster"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlatformServer, UpstreamIssuer]]:
    """The platform, trusting a Kubernetes service-account issuer for the ``orders`` policy."""
    k8s, spire = UpstreamIssuer(K8S_ISSUER), UpstreamIssuer(SPIRE_ISSUER)
    platform = PlatformServer(tmp_path_factory.mktemp("platform"),
                              config_overrides={"tokens": {"lifetime": 60}, **upstream_overrides(k8s, spire)})
    try:
        with platform:
            yield platform, k8s
    finally:
        k8s.close()
        spire.close()


def attempt(spec: EntrySpec) -> Acquired | IdentityError:
    """One attempt, as the loop makes it (a fresh acquirer: nothing cached)."""
    async def main() -> Acquired | IdentityError:
        acquirer = Acquirer(make_async_client())
        try:
            return await acquirer.acquire(spec)
        except IdentityError as exc:
            return exc
        finally:
            await acquirer.aclose()

    return asyncio.run(main())


def failure(spec: EntrySpec, cls: type[IdentityError]) -> tuple[str | None, IdentityError]:
    got = attempt(spec)
    assert isinstance(got, cls), got
    return cause_of(got), got


def client_entry(issuer: str, secret: Path, *, target: str = EU_WEST, **kw: Any) -> EntrySpec:
    return EntrySpec(workload="w", target=target, issuer=issuer, output=secret.parent / "out.jwt",
                     scopes=("read",), client=ClientSpec("demo-workload", secret), **kw)


def subject_entry(issuer: str, file: Path, *, service: str = "orders", **kw: Any) -> EntrySpec:
    return EntrySpec(workload="w", target=kw.pop("target", EU_WEST), issuer=issuer,
                     output=file.parent / "out.jwt", scopes=("read",), service=service,
                     subject=SubjectSpec(kind="kubernetes", file=file), **kw)


# -- the platform -------------------------------------------------------------------------------

def test_tokens_from_the_platform(world: tuple[PlatformServer, UpstreamIssuer], tmp_path: Path) -> None:
    platform, k8s = world
    got = attempt(client_entry(platform.issuer, secret_file(tmp_path, platform)))
    assert isinstance(got, Acquired), got
    assert got.meta.jti and got.meta.expires_at > time.time() and got.meta.scope == "read"
    kubelet_write(tmp_path / "sa", "token", k8s.mint(K8S_SA, lifetime=600))
    got = attempt(subject_entry(platform.issuer, tmp_path / "sa" / "token", environment="dev"))
    assert isinstance(got, Acquired), got
    assert got.meta.subject == ORDERS_ID and got.target.trust_domain == "dev.microstax.local"


def test_denied(world: tuple[PlatformServer, UpstreamIssuer], tmp_path: Path) -> None:
    platform, k8s = world
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret\n")
    cause, exc = failure(client_entry(platform.issuer, wrong), errors.ExchangeDenied)
    assert cause == "denied" and exc.details["error"] == "invalid_client", exc.to_json()
    assert "not-the-secret" not in exc.message
    kubelet_write(tmp_path / "sa", "token", k8s.mint(K8S_SA, lifetime=600))
    cause, exc = failure(subject_entry(platform.issuer, tmp_path / "sa" / "token", service="payments"),
                         errors.ExchangeDenied)  # the policy lets this subject act for 'orders' only
    assert cause == "denied" and exc.details["status"] == 400, exc.to_json()


def test_config(world: tuple[PlatformServer, UpstreamIssuer], tmp_path: Path) -> None:
    platform, _ = world
    secret = secret_file(tmp_path, platform)
    cause, exc = failure(client_entry(platform.issuer, secret, target="stx-nowhere"), errors.UnknownCluster)
    assert cause == "config" and "has no cluster 'stx-nowhere'" in exc.message
    cause, exc = failure(client_entry(platform.issuer, secret, environment="prod"), errors.ConfigError)
    assert cause == "config" and "not 'prod'" in exc.message


def test_subject(world: tuple[PlatformServer, UpstreamIssuer], tmp_path: Path) -> None:
    platform, k8s = world
    kubelet_write(tmp_path / "sa", "token", k8s.mint(K8S_SA, lifetime=-60))
    cause, exc = failure(subject_entry(platform.issuer, tmp_path / "sa" / "token"), errors.InvalidSubjectToken)
    assert cause == "subject" and "expired" in failure_message(exc) and "rotate" in failure_message(exc)
    cause, exc = failure(subject_entry(platform.issuer, tmp_path / "missing"), errors.InvalidSubjectToken)
    assert cause == "subject"
    assert failure_message(exc) == f"the kubernetes subject token file {tmp_path / 'missing'} does not exist"
    (tmp_path / "garbage").write_text("not a jwt")
    cause, _ = failure(subject_entry(platform.issuer, tmp_path / "garbage"), errors.InvalidSubjectToken)
    assert cause == "subject"


def test_secret(world: tuple[PlatformServer, UpstreamIssuer], tmp_path: Path) -> None:
    platform, _ = world
    cause, exc = failure(client_entry(platform.issuer, tmp_path / "gone.secret"), errors.SecretNotFound)
    assert cause == "secret" and exc.message == f"the client secret file {tmp_path / 'gone.secret'} does not exist"
    (tmp_path / "empty.secret").write_text("\n")
    cause, exc = failure(client_entry(platform.issuer, tmp_path / "empty.secret"), errors.SecretNotFound)
    assert cause == "secret" and exc.message.endswith("is empty")


# -- a scripted identity provider -----------------------------------------------------------------

@pytest.fixture
def signer() -> HybridSigner:
    return HybridSigner.generate()


@pytest.fixture
def idp(signer: HybridSigner) -> Iterator[Issuer]:
    """An issuer without a catalog (the target is used directly, audience = its name)."""
    with Issuer(signer.key_set().to_jwks()) as server:
        yield server


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "client.secret"
    path.write_text("s3cret\n")
    return path


def issued(idp: Issuer, signer: HybridSigner, **claims: Any) -> None:
    """The token endpoint answers with a token ``signer`` signed (``claims`` override)."""
    now = int(time.time())
    token = sign({"iss": idp.issuer, "sub": "demo-workload", "aud": EU_WEST, "iat": now,
                  "exp": now + 60, "jti": f"j{now}", **claims}, signer)
    idp.json("/oauth/token", {"access_token": token, "token_type": "Bearer", "expires_in": 60})


def test_a_token_from_an_issuer_without_a_catalog(idp: Issuer, signer: HybridSigner, secret: Path) -> None:
    issued(idp, signer)
    got = attempt(client_entry(idp.issuer, secret))
    assert isinstance(got, Acquired), got
    assert got.target.token_endpoint == f"{idp.issuer}/oauth/token" and got.target.audience == EU_WEST


def test_denied_where_the_catalog_is_refused(idp: Issuer, secret: Path) -> None:
    idp.json("/.well-known/openid-configuration",
             {**idp.metadata, "microstax_catalog_endpoint": f"{idp.url}/v1/catalog"})
    idp.json("/v1/catalog", {"error": "access_denied"}, status=403)
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "denied" and exc.details["status"] == 403, exc.to_json()
    idp.json("/v1/catalog", {"error": "temporarily_unavailable"}, status=503)
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "unavailable", exc.to_json()


def test_network(secret: Path) -> None:
    cause, exc = failure(client_entry(f"http://127.0.0.1:{free_port()}", secret), errors.IdpUnavailable)
    assert cause == "network" and exc.details["error"] == "network", exc.to_json()


def test_unavailable(idp: Issuer, secret: Path) -> None:
    idp.raw("/oauth/token", b"<html>bad gateway</html>", status=502)
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "unavailable" and exc.details["status"] == 502, exc.to_json()
    idp.json("/oauth/token", {"error": "temporarily_unavailable"}, status=400)
    cause, exc = failure(client_entry(idp.issuer, secret), errors.ExchangeDenied)
    assert cause == "unavailable", exc.to_json()


def test_rate_limited(idp: Issuer, secret: Path) -> None:
    idp.json("/oauth/token", {"error": "slow_down"}, status=429, headers={"Retry-After": "7"})
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "rate_limited" and exc.details["retryAfter"] == 7, exc.to_json()
    assert idp.hits["/oauth/token"] == 1  # not retried inside the attempt: the loop backs off


def test_protocol(idp: Issuer, secret: Path) -> None:
    idp.raw("/oauth/token", b"<html>welcome</html>")
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "protocol", exc.to_json()
    idp.json("/oauth/token", {"token_type": "Bearer"})  # no access_token
    cause, _ = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "protocol"


def test_discovery(idp: Issuer, secret: Path) -> None:
    idp.json("/.well-known/openid-configuration", {k: v for k, v in idp.metadata.items() if k != "token_endpoint"})
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "discovery" and "token_endpoint" in exc.message, exc.to_json()
    idp.json("/.well-known/openid-configuration",
             {**idp.metadata, "microstax_catalog_endpoint": f"{idp.url}/v1/catalog"})
    idp.json("/v1/catalog", {"v": 2})
    cause, exc = failure(client_entry(idp.issuer, secret), errors.IdpUnavailable)
    assert cause == "discovery" and "catalog" in exc.message, exc.to_json()


def test_verify(idp: Issuer, signer: HybridSigner, secret: Path) -> None:
    issued(idp, HybridSigner.generate())  # signed by keys the issuer does not publish
    cause, exc = failure(client_entry(idp.issuer, secret), errors.UntrustedToken)
    assert cause == "verify", exc.to_json()
    issued(idp, signer, aud="another-cluster")
    cause, exc = failure(client_entry(idp.issuer, secret), errors.UntrustedToken)
    assert cause == "verify" and exc.details["reason"] == "audience_mismatch", exc.to_json()
    # expired a few seconds ago: within the verifier's clock skew, still never written
    issued(idp, signer, exp=int(time.time()) - 3)
    cause, exc = failure(client_entry(idp.issuer, secret), errors.UntrustedToken)
    assert cause == "verify" and "already expired" in exc.message, exc.to_json()
