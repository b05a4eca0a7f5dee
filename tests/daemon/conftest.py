"""Fixtures: the real daemon process (``python -m microstax daemon``) driven by pytest-lsp."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client
from tests.harness.desktop import desktop_session
from tests.harness.wait import async_wait_until

__all__ = ["desktop_session"]

DAEMON = [sys.executable, "-m", "microstax", "daemon"]
NOTIFICATIONS = ("microstax/identityChanged", "microstax/clusterStateChanged", "microstax/loginPrompt")


def isolated_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment: this process's, with every config/state/cache dir under ``root``."""
    env = dict(os.environ)
    for name in ("config", "state", "cache", "data"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update({
        "MICROSTAX_CONFIG": str(root / "config" / "microstax" / "config.toml"),
        "MICROSTAX_STATE_DIR": str(root / "state" / "microstax"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def plain(value: Any) -> Any:
    """pygls hands custom notification params over as namedtuples: make them JSON-like again."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def collect_notifications(client: LanguageClient) -> dict[str, list[Any]]:
    """Record every microstax/* notification the daemon sends, by method (as plain dicts)."""
    received: dict[str, list[Any]] = {m: [] for m in NOTIFICATIONS}
    for method in NOTIFICATIONS:
        def handler(params: Any, _m: str = method) -> None:
            received[_m].append(plain(params))
        client.feature(method)(handler)
    return received


DaemonFactory = Callable[..., Awaitable[LanguageClient]]


@pytest_asyncio.fixture
async def start_daemon(tmp_path: Path) -> AsyncIterator[DaemonFactory]:
    """``await start_daemon(init_options={…}, env={…})`` → an initialized client of a fresh
    daemon process; every daemon started is shut down at the end of the test."""
    clients: list[LanguageClient] = []

    async def start(init_options: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                    root: Path | None = None, capabilities: str = "visual-studio-code") -> LanguageClient:
        client = make_test_lsp_client()
        client.received = collect_notifications(client)  # type: ignore[attr-defined]
        await client.start_io(*DAEMON, env=isolated_env(root or tmp_path / f"d{len(clients)}", env))
        clients.append(client)
        await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities(capabilities),
            initialization_options=init_options if init_options is not None else {"logLevel": "debug"},
            root_uri=tmp_path.as_uri(),
        ))
        return client

    yield start
    for client in clients:
        try:
            await client.shutdown_session()
        finally:
            await client.stop()


@pytest_asyncio.fixture
async def client(start_daemon: DaemonFactory) -> LanguageClient:
    return await start_daemon()


def open_doc(client: LanguageClient, uri: str, text: str, language_id: str = "plaintext", version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)))


async def hover(client: LanguageClient, uri: str, line: int, character: int) -> types.Hover | None:
    return await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character)))


async def stderr_with(capfd: Any, *needles: str, timeout: float = 10.0) -> str:
    """The daemon's stderr so far (``capfd`` captures it), once it holds every one of
    ``needles``."""
    seen: list[str] = []

    def holds() -> bool:
        seen.append(capfd.readouterr().err)
        text = "".join(seen)
        return all(needle in text for needle in needles)

    await async_wait_until(holds, timeout, what=f"the daemon's stderr with {needles}")
    return "".join(seen)


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments)))
