"""Hover end to end: the real daemon process, documents of every kind, verdicts offline-first."""

from __future__ import annotations

import json
import time
from typing import Any

from lsprotocol import types
from tests.daemon.conftest import execute, hover, open_doc
from tests.daemon.issuer import local_issuer
from tests.daemon.tokenfactory import mint
from tests.harness.wait import async_wait_until

from microstax.jose import HybridSigner
from microstax.jose.compact import b64url_encode

KIND_TITLES = {
    "user": "user `dev`",
    "service": "service `svc-payments`",
    "spiffe": "SPIFFE ID `spiffe://",
    "kubernetes": "Kubernetes service account `system:serviceaccount:payments:api`",
}


def stripped_token(signer: HybridSigner, claims: dict[str, Any]) -> str:
    """A hybrid issuer's token with the post-quantum part removed (classically re-signed)."""
    header = b64url_encode(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid}).encode())
    payload = b64url_encode(json.dumps(claims).encode())
    sig = b64url_encode(signer.classical.sign(f"{header}.{payload}".encode()))
    return f"{header}.{payload}.{sig}"


def where(text: str, needle: str) -> tuple[int, int]:
    """(line, character) of the middle of ``needle`` in ``text`` (ASCII)."""
    offset = text.index(needle) + len(needle) // 2
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def card(h: types.Hover | None) -> str:
    assert h is not None, "no hover"
    assert isinstance(h.contents, types.MarkupContent) and h.contents.kind == types.MarkupKind.Markdown
    return h.contents.value


async def test_every_identity_kind_in_every_kind_of_document(client):
    tokens = {kind: mint(kind) for kind in KIND_TITLES}
    docs = {
        "file:///w/req.http": ("http", f"GET https://api/x\nAuthorization: Bearer {tokens['user']}\n"),
        "file:///w/conf.yaml": ("yaml", f"auth:\n  token: \"{tokens['service']}\"\n"),
        "file:///w/resp.json": ("json", json.dumps({"access_token": tokens["spiffe"], "token_type": "Bearer"}, indent=2)),
        "file:///w/app.log": ("log", f"2026-01-01T00:00:00Z INFO sa token={tokens['kubernetes']}, ok\n"),
    }
    for uri, (lang, text) in docs.items():
        open_doc(client, uri, text, lang)
    for (uri, (_, text)), kind in zip(docs.items(), KIND_TITLES, strict=True):
        line, col = where(text, tokens[kind])
        h = await hover(client, uri, line, col)
        value = card(h)
        assert KIND_TITLES[kind] in value.splitlines()[0], value
        assert "Unverifiable offline" in value and "not one of your configured" in value
        assert "| Issued |" in value and "| Expires |" in value and "(in 14m" in value
        assert "8 KiB header budget" in value
        assert h is not None and h.range is not None
        assert h.range.end.character - h.range.start.character == len(tokens[kind])


async def test_no_token_malformed_and_expired(client):
    expired = mint("user", now=time.time() - 7200, lifetime=600)
    bogus = "eyJub3RhbGciOjF9.eyJzdWIiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAA"  # header without alg
    text = f"nothing here\nx={bogus}\ny={expired}\n"
    open_doc(client, "file:///w/a.txt", text)
    assert await hover(client, "file:///w/a.txt", 0, 3) is None
    malformed = card(await hover(client, "file:///w/a.txt", 1, 5))  # JWT-shaped: say what is wrong
    assert malformed.startswith("✗ **Malformed JWT**") and "no 'alg' string" in malformed, malformed
    assert await hover(client, "file:///w/a.txt", 9, 0) is None
    assert await hover(client, "file:///w/unopened.txt", 0, 0) is None
    value = card(await hover(client, "file:///w/a.txt", 2, 20))
    assert "expired 1h" in value and "ago" in value


async def test_verify_trusts_the_issuer_and_hover_then_verifies(client):
    with local_issuer() as iss:
        good = iss.mint("spiffe")
        forged = mint("spiffe", issuer=iss.url)  # another key, same issuer name
        stripped = stripped_token(iss.signer, {"iss": iss.url, "sub": "dev", "exp": int(time.time()) + 300})
        text = f"good {good}\nforged {forged}\nstripped {stripped}\n"
        open_doc(client, "file:///w/t.txt", text)
        before = card(await hover(client, "file:///w/t.txt", *where(text, good)))
        assert "not one of your configured" in before
        assert iss.requests == []  # a hover never fetches from an untrusted issuer

        result = await execute(client, "microstax.verify", {"token": good})
        assert result["valid"] is True and result["v"] == 1
        assert result["summary"]["verdict"] == {"classical": "verified", "pq": "verified"}
        assert "**Valid**" in result["markdown"]

        after = card(await hover(client, "file:///w/t.txt", *where(text, good)))
        assert "Classical (`ES256`): ✓ verified" in after and "Post-quantum (`ML-DSA-65`): ✓ verified" in after
        assert "**Valid**" in after
        bad = card(await hover(client, "file:///w/t.txt", *where(text, forged)))
        assert "✗ invalid" in bad and "**Not valid**" in bad
        strip = card(await hover(client, "file:///w/t.txt", *where(text, stripped)))
        assert "✗ missing" in strip and "**Not valid**" in strip

        forged_result = await execute(client, "microstax.verify", {"token": forged})
        assert forged_result["valid"] is False and forged_result["reason"]


async def test_hover_setting_turns_cards_off(client):
    tok = mint("user")
    open_doc(client, "file:///w/s.txt", tok)
    assert await hover(client, "file:///w/s.txt", 0, 5) is not None
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"microstax": {"hover": False}}))
    async def off() -> bool:
        return await hover(client, "file:///w/s.txt", 0, 5) is None
    await async_wait_until(off, 10, what="no hover card once hover is off")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"microstax": {"hover": True}}))
    async def on() -> bool:
        return await hover(client, "file:///w/s.txt", 0, 5) is not None
    await async_wait_until(on, 10, what="a hover card once hover is on again")


async def test_incremental_edits_are_followed(client):
    tok = mint("service")
    open_doc(client, "file:///w/e.txt", "token: ")
    assert await hover(client, "file:///w/e.txt", 0, 10) is None
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri="file:///w/e.txt", version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(0, 7), types.Position(0, 7)), text=tok)]))
    assert "service `svc-payments`" in card(await hover(client, "file:///w/e.txt", 0, 10))
