"""panva/jose in Node verifies the classical part with only the JWKS (which also holds the AKP
key it does not use). jose is installed with `npm ci` from tests/interop/node's lockfile into
the cache dir; the token and JWKS go to node on stdin, never in argv."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from interop_helpers import AUDIENCE, ISSUER, tamper_payload

HERE = Path(__file__).resolve().parent / "node"
REPO = HERE.parents[2]
CACHE = Path(os.environ.get("MICROSTAX_CACHE", REPO / ".cache")) / "interop-node"
FILES = ("package.json", "package-lock.json", "verify.mjs")


@pytest.fixture(scope="session")
def node_project() -> Path:
    """The node project in the cache dir, `npm ci`-installed when the lockfile changed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (scripts/test installs them)"
    CACHE.mkdir(parents=True, exist_ok=True)
    stamp = CACHE / ".installed"
    digest = hashlib.sha256(b"".join((HERE / f).read_bytes() for f in FILES[:2])).hexdigest()
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in FILES:
            shutil.copyfile(HERE / name, CACHE / name)
        if not (stamp.exists() and stamp.read_text() == digest
                and (CACHE / "node_modules" / "jose" / "package.json").exists()):
            result = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=CACHE, capture_output=True, text=True, timeout=300, check=False)
            assert result.returncode == 0, f"npm ci failed:\n{result.stderr[-2000:]}"
            stamp.write_text(digest)
    return CACHE


def node_verify(project: Path, token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps({"token": token, "jwks": jwks, "issuer": ISSUER, "audience": AUDIENCE})
    result = subprocess.run(["node", "verify.mjs"], cwd=project, input=payload,
                            capture_output=True, text=True, timeout=60, check=False)
    assert token not in result.stderr
    doc = json.loads(result.stdout)
    assert (result.returncode == 0) == doc["ok"], result.stderr
    return doc


def test_node_jose_version(node_project: Path) -> None:
    pkg = json.loads((node_project / "node_modules" / "jose" / "package.json").read_text())
    lock = json.loads((HERE / "package-lock.json").read_text())
    assert pkg["version"] == lock["packages"]["node_modules/jose"]["version"]


def test_node_jose_verifies_the_classical_part(node_project: Path, token: str,
                                               jwks: dict[str, Any]) -> None:
    doc = node_verify(node_project, token, jwks)
    assert doc["ok"], doc
    assert doc["payload"]["sub"].startswith("spiffe://")
    assert doc["header"]["alg"] == "ES256" and "pq" in doc["header"]


def test_node_jose_rejects_a_tampered_payload(node_project: Path, token: str,
                                              jwks: dict[str, Any]) -> None:
    doc = node_verify(node_project, tamper_payload(token, sub="admin"), jwks)
    assert not doc["ok"]
    assert doc["code"] == "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"


def test_node_jose_rejects_other_keys(node_project: Path, token: str) -> None:
    from microstax.jose import HybridSigner

    doc = node_verify(node_project, token, HybridSigner.generate().key_set().to_jwks())
    assert not doc["ok"]
    assert doc["code"] == "ERR_JWKS_NO_MATCHING_KEY"
