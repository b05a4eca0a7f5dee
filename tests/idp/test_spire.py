"""SPIRE, for real (seeds 003/004; docs/idp-spire.md).

A real SPIRE v1.13.3 server + agent (join-token node attestation, unix workload attestor) and
its OIDC discovery provider (https, a certificate from the platform's local CA). This process is
a workload: a registration entry for its uid gives it ``spiffe://workloads.example.org/ns/shop/sa/orders``.
The real platform trusts the discovery provider as the upstream ``spire`` for that trust domain
(``trust_domain``: the SPIFFE ID is the principal as is) and one policy rule names it.

- A JWT-SVID fetched from the agent (Workload API, py-spiffe over gRPC) is the subject token of
  ``identity federate --subject-token-file``;
- the identity controller fetches it from the agent itself (``subject.workload_api``) and
  follows the agent: no entry, no SVID, no token; entry back, token back;
- ``identity verify`` accepts a JWT-SVID for what it is (``typ`` JWT, SPIFFE ID ``sub``, audience
  required) and names the kind "JWT-SVID"; the hover card does too.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.controller.ctlkit import ControllerProcess, controller_toml
from tests.harness.cliuser import CliUser
from tests.harness.platform import PlatformServer
from tests.harness.spire import TRUST_DOMAIN, SpireDeployment

from microstax.daemon.hovercard import _KIND_LABEL
from microstax.jose import describe, parse

#: the module's fixture may wait for the one-time SPIRE build (scripts/lib/pre-test.d/25-idp.sh)
pytestmark = pytest.mark.timeout(1800)

CLUSTER = "stx-eu-west-cluster"
ORDERS_SVID = f"spiffe://{TRUST_DOMAIN}/ns/shop/sa/orders"
ORDERS_ID = "spiffe://dev.microstax.local/env/dev/svc/orders"


@dataclass
class SpireWorld:
    spire: SpireDeployment
    platform: PlatformServer
    user: CliUser
    entry: str
    root: Path


def platform_overrides(spire: SpireDeployment) -> dict[str, object]:
    """What docs/idp-spire.md tells a platform team to add."""
    return {
        "upstreams+": [{
            "connector_id": "spire", "issuer": spire.issuer, "jwks_uri": spire.jwks_uri,
            "audience": "microstax", "trust_domain": TRUST_DOMAIN, "ca_file": str(spire.ca_file),
        }],
        "policy+": [{
            "name": "orders-from-spire", "actors": [ORDERS_SVID], "environment": "dev",
            "services": ["orders"], "clusters": [CLUSTER], "scopes": ["read"],
        }],
    }


@pytest.fixture(scope="module")
def spire_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpireWorld]:
    root = tmp_path_factory.mktemp("spire")
    platform = PlatformServer(root / "platform", tls=True)
    platform.init()  # its local CA also signs the discovery provider's certificate
    with SpireDeployment(root / "spire", tls_ca_dir=platform.data_dir / "tls") as spire:
        platform.update_config(platform_overrides(spire), wait=False)
        with platform:
            entry = spire.register(ORDERS_SVID)
            spire.fetch_jwt_svid("microstax")  # the entry reached the agent
            user = CliUser(root / "user", platform_url=platform.issuer, ca_file=platform.ca_file)
            yield SpireWorld(spire, platform, user, entry, root)


def test_discovery_publishes_the_svid_keys(spire_world: SpireWorld) -> None:
    spire = spire_world.spire
    ctx = ssl.create_default_context(cafile=str(spire.ca_file))
    meta = httpx.get(f"{spire.issuer}/.well-known/openid-configuration", verify=ctx, timeout=10).json()
    assert meta["issuer"] == spire.issuer
    assert meta["jwks_uri"] == spire.jwks_uri
    keys = httpx.get(spire.jwks_uri, verify=ctx, timeout=10).json()["keys"]
    svid = parse(spire.fetch_jwt_svid("microstax"))
    assert svid.header["typ"] == "JWT" and svid.header["kid"] in {k["kid"] for k in keys}
    assert svid.claims["sub"] == ORDERS_SVID and svid.claims["aud"] == ["microstax"]
    assert svid.claims["iss"] == spire.issuer


def test_a_jwt_svid_file_federates_as_its_spiffe_id(spire_world: SpireWorld, tmp_path: Path) -> None:
    path = tmp_path / "svid.jwt"
    path.write_text(spire_world.spire.fetch_jwt_svid("microstax"))
    ran = spire_world.user.run("identity", "federate", "--subject-token-file", str(path),
                               "--subject-token-type", "spiffe", "--target", CLUSTER,
                               "--service", "orders", "--json")
    assert ran.code == 0, ran.err + ran.out
    claims = parse(json.loads(ran.out)["token"]).claims
    assert claims["sub"] == ORDERS_ID
    assert claims["act"] == {"sub": ORDERS_SVID}  # the SPIFFE ID as is: never a local identity
    assert claims["aud"] == CLUSTER and claims["scope"] == "read"


def test_an_svid_for_another_audience_is_refused(spire_world: SpireWorld, tmp_path: Path) -> None:
    path = tmp_path / "svid.jwt"
    path.write_text(spire_world.spire.fetch_jwt_svid("someone-else"))
    user = CliUser(tmp_path / "user", platform_url=spire_world.platform.issuer,
                   ca_file=spire_world.platform.ca_file)
    ran = user.run("identity", "federate", "--subject-token-file", str(path), "--subject-token-type",
                   "spiffe", "--target", CLUSTER, "--service", "orders")
    assert ran.code != 0
    assert "invalid_grant" in ran.err and "'microstax'" in ran.err, ran.err


def verify(world: SpireWorld, token: str, *args: str) -> tuple[int, dict[str, object], str]:
    ran = world.user.run("identity", "verify", "-", "--issuer", world.spire.issuer, "--json", *args,
                         stdin=token, env={"SSL_CERT_FILE": str(world.spire.ca_file)})
    doc = json.loads(ran.out) if ran.out.strip().startswith("{") else {}
    return ran.code, doc, ran.err + ran.out


def test_identity_verify_accepts_a_jwt_svid_for_what_it_is(spire_world: SpireWorld) -> None:
    svid = spire_world.spire.fetch_jwt_svid("microstax")
    code, doc, out = verify(spire_world, svid, "--audience", "microstax")
    assert code == 0, out
    text = json.dumps(doc)
    assert '"identityKind": "jwt-svid"' in text, text
    assert ORDERS_SVID in text
    code, _, out = verify(spire_world, svid, "--audience", "stx-eu-west-cluster")
    assert code != 0 and "audience" in out.lower(), out
    human = spire_world.user.run("identity", "verify", "-", "--issuer", spire_world.spire.issuer,
                                 "--audience", "microstax", stdin=svid,
                                 env={"SSL_CERT_FILE": str(spire_world.spire.ca_file)})
    assert human.code == 0 and "JWT-SVID" in human.out, human.out + human.err


def test_the_hover_card_names_a_jwt_svid(spire_world: SpireWorld) -> None:
    desc = describe(spire_world.spire.fetch_jwt_svid("microstax"))
    assert desc.identity[0] == "jwt-svid"
    assert _KIND_LABEL[desc.identity[0]] == "JWT-SVID"
    assert desc.identity[1] == {"trustDomain": TRUST_DOMAIN, "path": "/ns/shop/sa/orders"}


def test_the_controller_gets_svids_from_the_agent(spire_world: SpireWorld, tmp_path: Path) -> None:
    """subject.workload_api: the controller asks the agent for a JWT-SVID on every exchange.
    Deleting the registration entry stops it (the agent has no SVID for us); creating it again
    brings the token back, with no file in between."""
    spire = spire_world.spire
    out = tmp_path / "out"
    config = tmp_path / "controller.toml"
    config.write_text(controller_toml(spire_world.platform.issuer, [
        f'[[workload]]\nname = "orders"\nenvironment = "dev"\nservice = "orders"\n'
        f'targets = ["{CLUSTER}"]\nscopes = ["read"]\noutput = "{out}/{{workload}}-{{target}}.jwt"\n'
        f'subject = {{type = "spiffe", workload_api = "{spire.agent_socket_url}", audience = "microstax"}}\n'
        'refresh_fraction = 0.2\njitter = 0.05\nmin_backoff = 0.5\nmax_backoff = 3\n']))
    ctl = ControllerProcess(config, tmp_path, env={"SSL_CERT_FILE": str(spire_world.platform.ca_file)})
    ctl.start()
    token_file = out / f"orders-{CLUSTER}.jwt"
    try:
        ctl.wait_event("token_issued", timeout=60)
        claims = parse(token_file.read_text().strip()).claims
        assert claims["sub"] == ORDERS_ID and claims["act"] == {"sub": ORDERS_SVID}
        spire.unregister(spire_world.entry)
        failed = ctl.wait_event("refresh_failed", timeout=120)
        assert "Workload API" in json.dumps(failed), failed
        spire_world.entry = spire.register(ORDERS_SVID)
        issued = len(ctl.events("token_issued"))
        ctl.wait_event("token_issued", count=issued + 1, timeout=120)
    finally:
        assert ctl.stop() == 0
    log = ctl.log_path.read_text()
    assert "eyJ" not in log  # no token (SVID or issued) in the controller's log
