"""``microstax.verify`` with ``jwks`` (a JWKS file): the real daemon over stdio verifies offline
against the file's keys, and a file it cannot use is a ``JWKS_FILE_INVALID`` user error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute
from tests.daemon.tokenfactory import ISSUER, mint, signer

from microstax.jose import HybridSigner, KeySet


def jwks_file(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(doc))
    return path


async def user_error(client: Any, arg: dict[str, Any]) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "microstax.verify", arg)
    return info.value


async def test_a_token_verifies_offline_against_a_jwks_file(client, tmp_path: Path):
    # the token's issuer (port 1) cannot be reached: only the file can make it valid
    token = mint("user")
    good = jwks_file(tmp_path, "jwks.json", signer().key_set().to_jwks())
    out = await execute(client, "microstax.verify", {"token": token, "jwks": str(good)})
    assert out["v"] == 1 and out["valid"] is True, out
    assert out["summary"]["verdict"]["classical"] == "verified"
    assert out["summary"]["verdict"]["pq"] == "verified"  # the file holds the PQ key: required
    assert out["summary"]["issuer"] == ISSUER
    assert "Valid" in out["markdown"].splitlines()[0]

    # the same token against another issuer's keys: answered, not valid, and says why
    other = jwks_file(tmp_path, "other.json", HybridSigner.generate().key_set().to_jwks())
    out = await execute(client, "microstax.verify", {"token": token, "jwks": str(other)})
    assert out["valid"] is False and out["reason"], out
    assert out["summary"]["verdict"]["classical"] != "verified"

    # an issuer given with the file is required exactly
    out = await execute(client, "microstax.verify",
                        {"token": token, "jwks": str(good), "issuer": "https://elsewhere.example"})
    assert out["valid"] is False and "elsewhere" in out["reason"], out

    # a classical-only file for a hybrid token: as with the CLI's --jwks, a set without a PQ key
    # does not require the PQ part; the classical signature verifies and the verdict says the
    # PQ part could not be checked rather than claiming it
    classical = jwks_file(tmp_path, "classical.json", KeySet([signer().classical.verification_key()]).to_jwks())
    out = await execute(client, "microstax.verify", {"token": token, "jwks": str(classical)})
    assert out["valid"] is True, out
    assert out["summary"]["verdict"]["classical"] == "verified"
    assert out["summary"]["verdict"]["pq"] == "unverifiable"


def bad_jwks_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a path that is no usable JWKS file, words the error must hold)."""
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "fifo.json"
    os.mkfifo(fifo)
    with open(folder / "huge.json", "wb") as handle:
        handle.truncate(1024 * 1024 + 1)
    (folder / "not-json.json").write_text("keys: [this is yaml, not JSON]\n")
    (folder / "latin1.json").write_bytes(b'{"keys": ["\xe9"]}')
    jwks_file(folder, "array.json", [1, 2, 3])
    jwks_file(folder, "no-keys.json", {"keys": []})
    jwks_file(folder, "keys-not-list.json", {"keys": "none"})
    jwks_file(folder, "secret-key.json", {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    return {
        "missing": (folder / "missing.json", "No such file or directory"),
        "fifo": (fifo, "is a FIFO (named pipe), not a regular file"),
        "directory": (folder, "is a directory, not a regular file"),
        "huge": (folder / "huge.json", "over the 1048576-byte limit"),
        "not-json": (folder / "not-json.json", "is not valid JSON"),
        "not-utf8": (folder / "latin1.json", "is not UTF-8"),
        "array": (folder / "array.json", "is not usable"),
        "no-keys": (folder / "no-keys.json", "has no signature keys"),
        "keys-not-list": (folder / "keys-not-list.json", "is not usable"),
        "secret-key": (folder / "secret-key.json", "private key material"),
    }


async def test_an_unusable_jwks_file_is_a_clear_user_error(client, tmp_path: Path):
    token = mint("user")
    for name, (path, words) in bad_jwks_files(tmp_path / "bad").items():
        err = await user_error(client, {"token": token, "jwks": str(path)})
        assert err.code == -32001, (name, err)
        data = err.data
        assert data["code"] == "JWKS_FILE_INVALID" and data["action"] == "showLogs", (name, data)
        assert str(path) in data["message"] and words in data["message"], (name, data["message"])
        assert data["path"] == str(path) and "JSON Web Key Set" in data["hint"], (name, data)
        assert token not in json.dumps(data)  # the token is never echoed back
    # a path the daemon cannot place, or not a string: a bad argument (invalid params)
    for jwks in ("jwks.json", "./keys/jwks.json", 7, ["/tmp/jwks.json"]):
        err = await user_error(client, {"token": token, "jwks": jwks})
        assert err.code == -32602 and err.data["code"] == "BAD_REQUEST", (jwks, err.data)
        assert "'jwks'" in err.data["message"], err.data
    # still serving, and the file route still works after all of that
    good = jwks_file(tmp_path, "jwks.json", signer().key_set().to_jwks())
    assert (await execute(client, "microstax.verify", {"token": token, "jwks": str(good)}))["valid"] is True
