"""Property-based: whatever arrives, parse/check/describe raise nothing but JoseError, and no
mutation of a real token verifies."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jose_helpers import NOW, b64, b64json, base_claims

from microstax.cli.present import render_text
from microstax.daemon.hovercard import render_card, summary
from microstax.jose import HybridSigner, JoseError, KeySet, Policy, check, describe, parse, sign

SIGNER = HybridSigner.generate()
KEYS = SIGNER.key_set()
TOKEN = sign(base_claims(act={"sub": "dev", "act": {"sub": "ci"}}), SIGNER)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

weird_text = st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Lu", "So"]), max_size=8)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                | st.text(max_size=20) | weird_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
claim_names = st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "act", "scope", "scp",
                               "client_id", "azp", "kubernetes.io", "email", "env", "cluster", "jti"])
claims_strategy = st.dictionaries(claim_names | st.text(max_size=6), json_values, max_size=10)
header_strategy = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "pq", "crit", "jku", "cty"]) | st.text(max_size=5),
    json_values | st.sampled_from(["ES256", "ML-DSA-65", "none", "HS256", SIGNER.classical.kid]),
    max_size=6,
)


def exercise(token: str | bytes, keys: KeySet = KEYS) -> None:
    """Everything a front end does with untrusted input; only JoseError may escape."""
    verdict, parsed, error = check(token, keys, Policy(), now=NOW)
    if parsed is None:
        assert error is not None and not verdict.valid
        return
    desc = describe(parsed, verdict=verdict, now=NOW)
    json.dumps(desc.to_summary())
    render_text(desc)
    render_card(desc)
    json.dumps(summary(desc))


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    try:
        parse(text)
    except JoseError:
        pass
    exercise(text)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        parse(data)
    except JoseError:
        pass
    exercise(data)


@SETTINGS
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                        max_size=40), min_size=1, max_size=6))
def test_arbitrary_base64url_segments(segments: list[str]) -> None:
    exercise(".".join(segments))


@SETTINGS
@given(header_strategy, claims_strategy, st.binary(max_size=80))
def test_arbitrary_json_header_and_claims(header: dict, claims: dict, signature: bytes) -> None:
    exercise(f"{b64json(header)}.{b64json(claims)}.{b64(signature)}")


@SETTINGS
@given(claims_strategy)
def test_validly_signed_arbitrary_claims(claims: dict) -> None:
    # correctly signed garbage claims must be judged, not crash the verifier
    exercise(sign(claims, SIGNER))


@st.composite
def mutations(draw: st.DrawFn) -> str:
    token = TOKEN
    kind = draw(st.sampled_from(["replace", "delete", "insert", "truncate", "swap", "dup"]))
    i = draw(st.integers(0, len(token) - 1))
    if kind == "replace":
        ch = draw(st.characters(codec="utf-8"))
        return token[:i] + ch + token[i + 1:]
    if kind == "delete":
        j = draw(st.integers(i + 1, min(len(token), i + 50)))
        return token[:i] + token[j:]
    if kind == "insert":
        return token[:i] + draw(st.text(min_size=1, max_size=5)) + token[i:]
    if kind == "truncate":
        return token[:i]
    parts = token.split(".")
    if kind == "swap":
        a, b = draw(st.permutations(range(3)))[:2]
        parts[a], parts[b] = parts[b], parts[a]
        return ".".join(parts)
    return ".".join([*parts, parts[draw(st.integers(0, 2))]])


@SETTINGS
@given(mutations())
def test_mutated_real_tokens_never_verify(mutated: str) -> None:
    assume(mutated.strip() != TOKEN)
    exercise(mutated)
    verdict, _, _ = check(mutated, KEYS, Policy(), now=NOW)
    assert not verdict.valid


@SETTINGS
@given(st.integers(0, len(TOKEN) - 1), st.integers(1, 255))
def test_single_byte_flips_never_verify(position: int, delta: int) -> None:
    raw = bytearray(TOKEN.encode())
    raw[position] = (raw[position] + delta) % 256
    mutated = bytes(raw)
    assume(mutated.strip() != TOKEN.encode())
    exercise(mutated)
    assert not check(mutated, KEYS, Policy(), now=NOW)[0].valid


def test_the_unmutated_token_verifies() -> None:
    # guards the properties above against passing because the base token never verified
    assert check(TOKEN, KEYS, Policy(), now=NOW)[0].valid
    assert check(f"  {TOKEN}\n", KEYS, Policy(), now=NOW)[0].valid


# -- the JSON fast path is exactly the strict parser ------------------------------------------------
def _both(data: bytes) -> tuple[object, object]:
    from microstax.jose.compact import parse_json_object, parse_json_object_strict

    results = []
    for fn in (parse_json_object, parse_json_object_strict):
        try:
            results.append(("ok", fn(data, "x")))
        except JoseError as exc:
            results.append(("error", exc.reason))
    return results[0], results[1]


@SETTINGS
@given(claims_strategy, st.booleans(), st.sampled_from([(",", ":"), (", ", ": "), (",", " :")]))
def test_json_fast_path_agrees_with_strict(doc: dict, ascii_only: bool, separators: tuple) -> None:
    try:
        data = json.dumps(doc, ensure_ascii=ascii_only, separators=separators).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return
    fast, strict = _both(data)
    assert fast == strict


@SETTINGS
@given(claims_strategy, st.data())
def test_json_fast_path_rejects_duplicates(doc: dict, data: st.DataObject) -> None:
    assume(doc)
    key = data.draw(st.sampled_from(sorted(doc)))
    text = json.dumps(doc, separators=(",", ":"))
    dup = json.dumps({key: data.draw(json_values)}, separators=(",", ":"))[1:-1]
    data_bytes = (text[:-1] + "," + dup + "}").encode()
    fast, strict = _both(data_bytes)
    assert fast == strict == ("error", "malformed")


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_json_fast_path_on_arbitrary_bytes(data: bytes) -> None:
    fast, strict = _both(data)
    assert fast == strict
