from __future__ import annotations

from tests.daemon.conftest import execute, hover, open_doc
from tests.daemon.tokenfactory import mint


async def test_hover_and_decode(client):
    tok = mint("spiffe")
    open_doc(client, "file:///tmp/a.txt", f"Authorization: Bearer {tok}\n")
    h = await hover(client, "file:///tmp/a.txt", 0, 30)
    assert h is not None
    print(h.contents.value)
    r = await execute(client, "microstax.decode", {"token": tok})
    print(r)
