"""Fixtures for the token core: one hybrid signer per session and a token minter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from jose_helpers import base_claims

from microstax.jose import HybridSigner, KeySet, sign


@pytest.fixture(scope="session")
def signer() -> HybridSigner:
    return HybridSigner.generate()


@pytest.fixture(scope="session")
def other_signer() -> HybridSigner:
    return HybridSigner.generate()


@pytest.fixture(scope="session")
def keys(signer: HybridSigner) -> KeySet:
    return signer.key_set()


@pytest.fixture(scope="session")
def classical_only_keys(signer: HybridSigner) -> KeySet:
    return KeySet([signer.classical.verification_key()])


@pytest.fixture
def mint(signer: HybridSigner) -> Callable[..., str]:
    def _mint(**claims: Any) -> str:
        return sign(base_claims(**claims), signer)
    return _mint
