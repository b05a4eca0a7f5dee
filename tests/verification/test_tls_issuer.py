"""A trusted issuer over https with its own CA file (the platform's local CA from ``platform
init``), and an explicit discovery URL: trusted only through ``ca_file``, never by turning
certificate checks off."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.harness.platform import PlatformServer

from microstax.identity.verification import (
    KeysUnavailable,
    SyncVerifier,
    TrustedIssuer,
    VerificationPolicy,
    Verifier,
)

from .forge import platform_signer, stripped

EU_WEST = "stx-eu-west-cluster"


async def test_https_issuer_with_its_ca_file(tmp_path: Path) -> None:
    with PlatformServer(tmp_path / "platform", tls=True) as srv:
        assert srv.issuer.startswith("https://")
        token = srv.client_credentials(audience=EU_WEST)["access_token"]
        forged = stripped(token, platform_signer(srv.data_dir).classical)
        ca = str(srv.ca_file)
        discovery = f"{srv.issuer}/.well-known/oauth-authorization-server"
        for trusted in (TrustedIssuer(srv.issuer, ca_file=ca),
                        TrustedIssuer(srv.issuer, ca_file=ca, discovery_url=discovery)):
            policy = VerificationPolicy(issuers=(trusted,), audiences=(EU_WEST,))
            verifier = Verifier(policy)
            try:
                good = await verifier.verify(token)
                assert good.valid and good.pq.status == "verified", good.message
                assert good.keys is not None and good.keys.metadata_uri == (
                    discovery if trusted.discovery_url else f"{srv.issuer}/.well-known/openid-configuration")
                assert (await verifier.verify(forged)).reason == "pq_missing"
            finally:
                await verifier.aclose()
            sync = SyncVerifier(policy)
            try:
                assert sync.verify(token).valid
            finally:
                sync.close()
        # without the CA the certificate is not trusted: no keys, no verdict
        verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer(srv.issuer),)))
        try:
            with pytest.raises(KeysUnavailable) as caught:
                await verifier.verify(token)
            assert caught.value.issuer == srv.issuer
        finally:
            await verifier.aclose()
