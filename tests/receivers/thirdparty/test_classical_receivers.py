"""Every classical receiver class, from discovery alone: oauth2-proxy, Envoy jwt_authn and
Apache mod_auth_openidc each get only the platform's https issuer (its discovery document or
``jwks_uri``) and its CA, and check the ES256 part of real federated tokens.

For each: a token federated for this cluster is accepted (and the receiver names its SPIFFE
subject); a token for another cluster, an expired one (signed by the platform's real key), a
tampered one and one stripped of its PQ part are refused; no receiver logs a token.
"""

from __future__ import annotations

import time

import pytest
from tests.harness.cliuser import CliUser
from tests.harness.platform import PlatformServer
from tests.harness.receivers_thirdparty import (
    TARGET,
    ClassicalTokens,
    Receiver,
    claims_of,
    kid_of,
)
from tests.harness.wait import wait_until

# The first test's set-up may wait for the one-time oauth2-proxy build (minutes on a fresh
# machine; scripts/test starts it in the background); every wait below has its own bound.
pytestmark = pytest.mark.timeout(1800)

REFUSED = ("wrong_audience", "expired", "tampered", "pq_stripped")


def test_a_token_for_this_cluster_is_accepted(receiver: Receiver, tokens: ClassicalTokens) -> None:
    response = receiver.call(tokens.good)
    assert response.is_success, f"{receiver.name}: {response.status_code} {response.text[:300]}"
    sub = claims_of(tokens.good)["sub"]
    assert sub.startswith("spiffe://dev.microstax.local/")
    assert receiver.identity_header(response) == sub


def test_the_same_claims_minted_with_the_platform_keys_are_accepted(receiver: Receiver,
                                                                   tokens: ClassicalTokens) -> None:
    """The control for the expired case: only ``exp`` differs between the two."""
    response = receiver.call(tokens.fresh_minted)
    assert response.is_success, f"{receiver.name}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("case", REFUSED)
def test_a_bad_token_is_refused(receiver: Receiver, tokens: ClassicalTokens, case: str) -> None:
    mark = receiver.log_mark()
    response = receiver.call(getattr(tokens, case))
    assert response.status_code in (401, 403), (
        f"{receiver.name} answered {response.status_code} to the {case} token")
    assert not receiver.identity_header(response)
    reason = receiver.refusal_reasons[case]
    assert reason in receiver.wait_for_reason(reason, response, mark), (
        f"{receiver.name} refused the {case} token, but not saying {reason!r}")


def test_no_token_is_refused(receiver: Receiver) -> None:
    response = receiver.call(None)
    assert response.status_code in (401, 403)


def test_a_platform_key_rotation_keeps_old_and_new_tokens_working(
        receiver: Receiver, tokens: ClassicalTokens, tls_platform: PlatformServer,
        cli_user: CliUser) -> None:
    old_kid = kid_of(tokens.good)
    tls_platform.rotate_keys()

    def signed_with_new_key() -> str | None:  # the server picks up the new key within ~1 s
        token = cli_user.run("identity", "federate", "--force", "--target", TARGET).check().out.strip()
        return token if kid_of(token) != old_kid else None
    fresh = wait_until(signed_with_new_key, 30, interval=0.2, what="the platform signs with its new key")
    assert receiver.call(tokens.good).is_success, "a token signed before the rotation was refused"
    if receiver.refetches_on_unknown_kid:
        response = receiver.call(fresh)
        assert response.is_success, f"{receiver.name}: {response.status_code} {response.text[:200]}"
        return
    # Envoy: no refetch on an unknown kid; the new key works after the next scheduled fetch.
    deadline = time.monotonic() + receiver.jwks_refresh_s + 30
    while not (response := receiver.call(fresh)).is_success:
        assert time.monotonic() < deadline, (
            f"{receiver.name} still refuses the new key: {response.status_code} {response.text[:200]}")
        time.sleep(0.5)


def test_no_receiver_logs_a_token(receiver: Receiver, tokens: ClassicalTokens) -> None:
    for token in tokens.all().values():
        receiver.call(token)
    signatures = {name: token.rsplit(".", 1)[1][:43] for name, token in tokens.all().items()}
    payloads = {name: token.split(".")[1][:43] for name, token in tokens.all().items()}
    logs = [(path, path.read_text(errors="replace")) for path in receiver.log_files()]
    assert logs, f"{receiver.name} wrote no logs in {receiver.log_dir}"
    for path, text in logs:
        for name, fragment in {**signatures, **payloads}.items():
            assert fragment not in text, f"{path} holds part of the {name} token"
