"""diagnostics.py: expired, long-lived, no-expiry tokens and pasted private keys."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.daemon.tokenfactory import mint

from microstax.daemon.diagnostics import INFORMATION, WARNING, TokenTimes, findings, next_change


def test_expired_long_lived_and_fine():
    now = time.time()
    expired = mint("user", now=now - 7200, lifetime=600)
    long_lived = mint("service", lifetime=30 * 86400)
    fine = mint("spiffe", lifetime=300)
    no_exp = mint("user", exp=None)
    text = f"a={expired}\nb={long_lived}\nc={fine}\nd={no_exp}\n"
    found = findings(text, now)
    kinds = [(f.kind, f.severity) for f in found]
    assert kinds == [("expired", INFORMATION), ("long_lived", WARNING), ("no_expiry", WARNING)]
    assert text[found[0].start:found[0].end] == expired
    assert "expired at" in found[0].message and "'dev'" in found[0].message
    assert "30d" in found[1].message
    assert expired not in " ".join(f.message for f in found)


def test_next_change_is_when_a_live_token_expires():
    now = time.time()
    tok = mint("user", lifetime=120, now=now)
    from microstax.daemon.diagnostics import iter_token_findings
    items = [f for f in iter_token_findings(tok, now, TokenTimes()) if f is not None]
    assert items and items[0].kind == "live"
    when = next_change(items, now)
    assert when is not None and 100 < when - now <= 121


def test_private_keys():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sec1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    text = f"key: |\n{pem}\nold:\n{sec1}\npub:\n{public}"
    found = findings(text, time.time())
    assert [f.kind for f in found] == ["private_key", "private_key"]
    assert "EC private key" in found[1].message
    assert text[found[0].start:found[0].end].startswith("-----BEGIN PRIVATE KEY-----")
    assert text[found[0].start:found[0].end].endswith("-----END PRIVATE KEY-----")


def test_a_broken_token_is_reported_once_and_cached():
    from microstax.daemon.diagnostics import Malformed

    cache = TokenTimes()
    bogus = "eyJhbGciOiJub25lIn0x.eyJzdWIiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAA"
    found = findings(bogus, time.time(), cache)
    assert [f.kind for f in found] == ["malformed"] and "header is not valid JSON" in found[0].message
    assert cache.get(bogus) == Malformed("the header is not valid JSON (data after the value)")
    assert findings("eyJ but no token here", time.time(), cache) == []


def test_malformed_tokens_say_what_is_wrong():
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    good = mint("user", lifetime=300)
    head, payload, sig = good.split(".")
    not_json = f"{head}.{b64(b'not json at all')}.{sig}"
    bad_base64 = f"{head}.{payload}.{sig[:-1]}"  # truncated: an impossible base64url length
    if len(sig[:-1]) % 4 != 1:
        bad_base64 = f"{head}.{payload}.{sig[:-2]}"
    text = f"a={not_json}\nb={bad_base64}\nc={good}\n"
    found = findings(text, time.time())
    assert [f.kind for f in found] == ["malformed", "malformed"], found
    assert "payload is not valid JSON" in found[0].message
    assert "signature" in found[1].message and "base64url" in found[1].message
    assert good not in " ".join(f.message for f in found)
