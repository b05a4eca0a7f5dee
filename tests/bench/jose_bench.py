# ruff: noqa: RUF001, RUF002
"""jose section: the token core against the raw cryptography it is built on, and against pyjwt.

* verify: ``jose.verify`` of a hybrid token (from its text: parse, header rules, both
  signatures, claims) vs the floor = ES256 verify + ML-DSA-65 verify with ``cryptography`` on
  the same, pre-decoded inputs. Goal: floor ÷ ours ≥ 0.85.
* vs pyjwt: ``jwt.decode`` of the same token, ES256 only (what a classical verifier pays).
* repeat: ``VerifiedTokenCache.verify`` of a token seen before vs the first verify. Goal ≥ 50×.
* mint: ``jose.sign`` vs ES256 sign + ML-DSA-65 sign of the same inputs. Goal ≥ 0.85.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from microstax.jose import HybridSigner, Policy, VerifiedTokenCache, parse, sign, verify
from microstax.jose.compact import b64url_decode

from .report import Report, Row
from .timing import interleaved, us

FLOOR_GOAL = 0.85
CACHE_GOAL = 50.0


def sample_claims(now: int) -> dict[str, Any]:
    return {"iss": "http://127.0.0.1:8411",
            "sub": "spiffe://dev.microstax.local/env/dev/svc/payments",
            "aud": "stx-eu-west-cluster", "iat": now, "nbf": now, "exp": now + 300,
            "jti": str(uuid.uuid4()), "client_id": "microstax-cli",
            "scope": "payments:read payments:write", "act": {"sub": "dev"}, "env": "dev",
            "cluster": "stx-eu-west-cluster"}


def run(options: Any) -> Report:
    signer = HybridSigner.generate()
    keys = signer.key_set()
    claims = sample_claims(int(time.time()))
    token = sign(claims, signer)
    parsed = parse(token)
    policy = Policy(issuer=claims["iss"], audience=claims["aud"])

    # the floor's inputs, decoded once, outside the timed loop
    ec_public = signer.classical.private_key.public_key()
    pq_public = signer.pq.private_key.public_key()
    ec_private, pq_private = signer.classical.private_key, signer.pq.private_key
    sig = parsed.signature
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    signing_input = parsed.signing_input
    part = parsed.header["pq"]
    pq_signature = b64url_decode(part["signature"], "pq")
    pq_input = f"{part['protected']}.{parsed.payload_b64}".encode("ascii")
    ecdsa = ec.ECDSA(hashes.SHA256())
    pyjwt_key = jwt.PyJWK(signer.classical.public_jwk).key
    cache = VerifiedTokenCache()
    cache.verify(token, keys, policy)

    def floor_verify() -> None:
        ec_public.verify(der, signing_input, ecdsa)
        pq_public.verify(pq_signature, pq_input)

    def floor_sign() -> None:
        pq_private.sign(pq_input)
        ec_private.sign(signing_input, ecdsa)

    # Two groups, each interleaved within itself: what is compared runs under the same
    # conditions (ML-DSA signing between two verifications would only add cache churn that
    # a verifier never sees).
    verifying = {
        "floor verify": floor_verify,
        "hybrid verify": lambda: verify(token, keys, policy),
        "pyjwt ES256 verify": lambda: jwt.decode(token, pyjwt_key, algorithms=["ES256"],
                                                 audience=claims["aud"], issuer=claims["iss"]),
        # a new string each time, as a token read from a request or a document would be
        # (str caches its hash: the same object would make the lookup unrealistically cheap)
        "cached verify": lambda: cache.verify(token[:-1] + token[-1], keys, policy),
    }
    signing = {
        "floor sign": floor_sign,
        "hybrid mint": lambda: sign(claims, signer),
    }
    inner = {name: options.inner for name in verifying}
    inner["cached verify"] = max(10, options.inner)  # hits come in streams: a warm path
    timings = interleaved(verifying, rounds=options.rounds, inner=inner)
    timings.update(interleaved(signing, rounds=options.rounds, inner=options.inner))
    t = {name: timing.best for name, timing in timings.items()}
    med = {name: timing.median for name, timing in timings.items()}

    verify_ratio = t["floor verify"] / t["hybrid verify"]
    mint_ratio = t["floor sign"] / t["hybrid mint"]
    cache_speedup = t["hybrid verify"] / t["cached verify"]
    pyjwt_ratio = t["hybrid verify"] / t["pyjwt ES256 verify"]

    def both(name: str) -> str:
        return f"{us(t[name])} (median {us(med[name])})"

    report = Report("jose", "Token core (jose): hybrid ES256 + ML-DSA-65")
    report.rows = [
        Row("hybrid verify", both("hybrid verify")),
        Row("floor verify (ES256 + ML-DSA-65, cryptography)", both("floor verify")),
        Row("verify: floor ÷ ours", f"{verify_ratio:.2f}", f"≥ {FLOOR_GOAL}",
            verify_ratio >= FLOOR_GOAL),
        Row("verify: floor ÷ ours, medians", f"{med['floor verify'] / med['hybrid verify']:.2f}"),
        Row("pyjwt ES256-only verify of the same token", both("pyjwt ES256 verify")),
        Row("hybrid verify ÷ pyjwt classical-only", f"{pyjwt_ratio:.2f}×"),
        Row("repeat verify (VerifiedTokenCache hit)", both("cached verify")),
        Row("first ÷ repeat", f"{cache_speedup:.0f}×", f"≥ {CACHE_GOAL:.0f}×",
            cache_speedup >= CACHE_GOAL),
        Row("hybrid mint", both("hybrid mint")),
        Row("floor sign (ES256 + ML-DSA-65, cryptography)", both("floor sign")),
        Row("mint: floor ÷ ours", f"{mint_ratio:.2f}", f"≥ {FLOOR_GOAL}", mint_ratio >= FLOOR_GOAL),
        Row("mint: floor ÷ ours, medians", f"{med['floor sign'] / med['hybrid mint']:.2f} "
            "(ML-DSA signing time varies per message)"),
        Row("token size (typical federated token)",
            f"{len(token)} B (header {len(parsed.header_b64)} B)"),
    ]
    report.notes = [
        f"best (and median) of {options.rounds} samples per candidate, interleaved sample by "
        f"sample within two groups (verifying, signing); a sample is {options.inner} call(s), "
        "for the cached verify "
        f"{inner['cached verify']} back-to-back calls (a stream of hits) each on a new string",
        "the floor gets its inputs pre-decoded; ours starts from the token text "
        "(strict parse, header rules, both signatures, claims)",
        "pyjwt checks only the ES256 signature of the same token, yet takes longer than the "
        "whole hybrid verification: a classical-only verifier pays for the 6 KB header too",
    ]
    return report
