"""Property-based fuzzing of hover against the real daemon: random documents and positions never
crash it, never hang it, and it still answers afterwards."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from tests.daemon.conftest import hover, open_doc
from tests.daemon.tokenfactory import mint

BOUND = 5.0  # seconds a hover may take, even on a slow shared machine
TOKENS = [mint("user"), mint("spiffe"), mint("kubernetes", lifetime=-10)]

fragments = st.one_of(
    st.sampled_from(TOKENS),
    st.sampled_from(TOKENS).map(lambda t: t[: len(t) // 2]),  # cut tokens
    st.sampled_from(TOKENS).map(lambda t: t.replace(".", "", 1)),  # two segments
    st.sampled_from(TOKENS).map(lambda t: t + "." + t),  # glued
    st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\x0c", " ", ".", "eyJ", "Bearer ", '"', "`", "😀", "é",
                     "\ud800", "-----BEGIN PRIVATE KEY-----", "eyJhbGciOiJub25lIn0", "=", "\t"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=200),
    st.text(max_size=50),
)
documents = st.lists(fragments, max_size=30).map("".join)
positions = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 20_000)), min_size=1, max_size=6)
_uris = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=documents, where=positions)
async def test_hover_on_random_documents(client, text, where):
    uri = f"file:///fuzz/{next(_uris)}.txt"
    open_doc(client, uri, text)
    for line, character in where:
        result = await asyncio.wait_for(hover(client, uri, line, character), BOUND)
        assert result is None or "JWT**" in result.contents.value.splitlines()[0]
    # still alive and right
    open_doc(client, uri + ".ok", f"t={TOKENS[0]}")
    assert await asyncio.wait_for(hover(client, uri + ".ok", 0, 10), BOUND) is not None
    # a hover that failed inside is answered with None and logged as an error: there must be none
    assert [m.message for m in client.log_messages if m.type == types.MessageType.Error] == []
