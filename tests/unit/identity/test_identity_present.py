"""present.render_text: what people read in a terminal; untrusted text made harmless."""

from __future__ import annotations

import pytest

from microstax.cli.present import clean, render_text
from microstax.jose import HybridSigner, Policy, check, describe, sign

SIGNER = HybridSigner.generate()
KEYS = SIGNER.key_set()
NOW = 1_800_000_000.0


def token(**claims: object) -> str:
    base: dict[str, object] = {"iss": "http://127.0.0.1:8411", "sub": "dev", "aud": "microstax",
                               "iat": int(NOW) - 48, "exp": int(NOW) + 252}
    base.update(claims)
    return sign(base, SIGNER)


def verified(text: str):  # type: ignore[no-untyped-def]
    verdict, parsed, _ = check(text, KEYS, Policy(), now=NOW)
    assert parsed is not None
    return describe(parsed, verdict=verdict, now=NOW)


def test_text_valid_summary() -> None:
    out = render_text(verified(token(sub="spiffe://dev.microstax.local/env/dev/svc/payments",
                                     aud="stx-eu-west-cluster", scope="read write",
                                     act={"sub": "dev", "act": {"sub": "ci-bot"}})))
    first, *rest = out.splitlines()
    assert first == "VALID: classical and post-quantum signatures verify"
    body = "\n".join(rest)
    assert "SPIFFE ID (trust domain dev.microstax.local, path /env/dev/svc/payments)" in body
    assert "stx-eu-west-cluster" in body
    assert "read write" in body
    assert "dev, ci-bot (current actor first)" in body
    assert "(expires in 4m 12s)" in body
    assert "(48s ago)" in body
    assert "ES256" in body and "ML-DSA-65" in body and ": verified" in body


def test_text_decode_is_unverified() -> None:
    out = render_text(describe(token(), now=NOW))
    assert out.startswith("UNVERIFIED: decoded only")
    assert "VALID:" not in out
    assert ": not_checked" in out


def test_text_invalid_names_the_reason() -> None:
    out = render_text(verified(token(exp=int(NOW) - 3 * 3600, iat=int(NOW) - 4 * 3600)))
    assert out.splitlines()[0].startswith("INVALID: expired: ")
    assert "expired 3h ago" in out


def test_text_kubernetes_identity() -> None:
    out = render_text(describe(token(sub="system:serviceaccount:payments:api", **{
        "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"},
                          "pod": {"name": "api-7d9f"}}}), now=NOW))
    assert "Kubernetes service account payments/api (pod api-7d9f)" in out


def test_text_size_warning() -> None:
    out = render_text(describe(token(padding="x" * 2500), now=NOW))
    assert "\nwarning: " in out and "8192" in out


@pytest.mark.parametrize("evil", ["\x1b[2J\x1b[31mroot", "a\u202eb", "line\nbreak", "\ud800"])
def test_text_escapes_controls_and_bidi(evil: str) -> None:
    out = render_text(describe(token(sub=evil), now=NOW))
    assert "\x1b" not in out and "\u202e" not in out and "\ud800" not in out
    assert "line\nbreak" not in out
    out.encode("utf-8")  # printable to any UTF-8 terminal


def test_clean_bounds_length() -> None:
    assert len(clean("x" * 1000)) <= 161


def test_rendering_uses_the_description_clock() -> None:
    text = token()
    assert "expires in 4m 12s" in render_text(describe(text, now=NOW))
    assert "expired 3h ago" in render_text(describe(text, now=NOW + 252 + 3 * 3600))
