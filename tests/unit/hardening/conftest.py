"""Fixtures of the hardening tests: one hybrid signer and a token minter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hardening_helpers import claims

from microstax.jose import HybridSigner, KeySet, sign


@pytest.fixture(scope="session")
def signer() -> HybridSigner:
    return HybridSigner.generate()


@pytest.fixture(scope="session")
def keys(signer: HybridSigner) -> KeySet:
    return signer.key_set()


@pytest.fixture
def mint(signer: HybridSigner) -> Callable[..., str]:
    """A validly signed hybrid token with these claims."""
    def _mint(**extra: Any) -> str:
        return sign(claims(**extra), signer)
    return _mint

