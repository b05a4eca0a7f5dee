"""Diagnostics end to end: expired tokens (information), long-lived tokens and private keys
(warning), published on open and change, re-published when a token expires, switchable."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lsprotocol import types
from tests.daemon.conftest import open_doc
from tests.daemon.tokenfactory import mint
from tests.harness.wait import async_wait_until


async def diagnostics_for(client, uri: str, *, count: int | None = None, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    """The diagnostics last published for ``uri``, once there are some (``count`` of them)."""
    def published() -> tuple[list[types.Diagnostic]] | None:
        found = client.diagnostics.get(uri)
        if found is not None and (count is None or len(found) == count):
            return (list(found),)  # a tuple: truthy even when the list is empty
        return None

    (found,) = await async_wait_until(published, timeout, what=f"diagnostics for {uri} (count {count})")
    return found


def pem_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


async def test_expired_long_lived_and_keys(client):
    expired = mint("user", now=time.time() - 3600, lifetime=60)
    long_lived = mint("service", lifetime=7 * 86400)
    fine = mint("spiffe")
    text = f"😀 old: {expired}\nnew: {fine}\nci: {long_lived}\n{pem_key()}"
    open_doc(client, "file:///w/d.yaml", text, "yaml")
    found = await diagnostics_for(client, "file:///w/d.yaml", count=3)
    by_code = {d.code: d for d in found}
    assert by_code["expired"].severity == types.DiagnosticSeverity.Information
    assert by_code["long_lived"].severity == types.DiagnosticSeverity.Warning
    assert by_code["private_key"].severity == types.DiagnosticSeverity.Warning
    assert all(d.source == "microstax" for d in found)
    # UTF-16 columns: 😀 counts two
    rng = by_code["expired"].range
    assert (rng.start.line, rng.start.character) == (0, len("😀 old: ") + 1)
    assert rng.end.character - rng.start.character == len(expired)
    assert by_code["long_lived"].range.start.line == 2 and by_code["private_key"].range.start.line == 3
    assert expired not in " ".join(d.message for d in found)

    # editing the expired token away removes its diagnostic
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri="file:///w/d.yaml", version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=f"ci: {long_lived}\n")]))
    found = await diagnostics_for(client, "file:///w/d.yaml", count=1)
    assert found[0].code == "long_lived"


async def test_a_token_expiring_while_open_is_reported(client):
    soon = mint("user", lifetime=2)
    open_doc(client, "file:///w/soon.txt", f"t={soon}")
    assert await diagnostics_for(client, "file:///w/soon.txt", count=0) == []
    found = await diagnostics_for(client, "file:///w/soon.txt", count=1, timeout=10)
    assert found[0].code == "expired"


async def test_diagnostics_setting(client):
    open_doc(client, "file:///w/k.pem", pem_key())
    await diagnostics_for(client, "file:///w/k.pem", count=1)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"microstax": {"diagnostics": False, "hover": True, "logLevel": "info"}}))
    await diagnostics_for(client, "file:///w/k.pem", count=0)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"microstax": {"diagnostics": True}}))
    await diagnostics_for(client, "file:///w/k.pem", count=1)


async def test_disabled_from_the_start(start_daemon):
    client = await start_daemon({"diagnostics": False})
    open_doc(client, "file:///w/k2.pem", pem_key())
    # disabled, the daemon still publishes for an opened document: an empty list
    assert await diagnostics_for(client, "file:///w/k2.pem") == []
