"""Every file a user, a setting or a document can name may be a FIFO (a read blocks forever),
``/dev/zero`` (a read never ends), a directory or huge: every reader refuses it with a clear
error (never a hang, never an exit 70). One helper does the reading: ``jose.read_limited``.

Each test has a timeout (the failure mode before the fix was a hang, which would otherwise
stall the run); the assertions are about outcomes, never about how long anything took.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from microstax.jose import UnreadableFile, read_limited

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["fifo", "dev-zero", "directory", "huge"])
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A path that must never be read as a whole."""
    kind = request.param
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return path
    if kind == "dev-zero":
        path = tmp_path / "zero"
        path.symlink_to("/dev/zero")
        return path
    if kind == "directory":
        path = tmp_path / "dir"
        path.mkdir()
        return path
    path = tmp_path / "huge"
    with path.open("wb") as handle:  # sparse: 8 GiB claimed, nothing written
        handle.truncate(8 * 1024**3)
    path.chmod(0o600)
    return path


def test_the_helper(hostile: Path) -> None:
    with pytest.raises(UnreadableFile) as info:
        read_limited(hostile, max_bytes=1024)
    assert info.value.errno in (errno.EINVAL, errno.EFBIG)
    assert "regular file" in str(info.value.strerror) or "limit" in str(info.value.strerror)


def test_the_helper_reads_regular_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1024)
    assert read_limited(path, max_bytes=1024) == b"x" * 1024
    with pytest.raises(UnreadableFile, match="limit"):
        read_limited(path, max_bytes=1023)
    with pytest.raises(FileNotFoundError):
        read_limited(tmp_path / "missing")


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from microstax.cli.main import main
    code = main(args)
    return code, capsys.readouterr().err


def test_cli_token_file(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    for command in (["token", "decode"], ["identity", "verify"]):
        code, err = _cli([*command, "--token-file", str(hostile)], capsys)
        assert code == exit_codes.USAGE, err
        assert "token file" in err or "--token-file" in err


def test_cli_jwks_file(hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    from microstax.jose import HybridSigner, sign
    token = tmp_path / "token"
    token.write_text(sign({"iss": "https://i.example", "sub": "s", "exp": 4102444800},
                          HybridSigner.generate()))
    code, err = _cli(["identity", "verify", "--token-file", str(token), "--jwks", str(hostile)],
                     capsys)
    assert code == exit_codes.USAGE, err
    assert "JWKS file" in err


def test_cli_mint_claims_file(hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    assert _cli(["keys", "generate", "--out", str(tmp_path / "k")], capsys)[0] == 0
    code, err = _cli(["token", "mint", "--keys", str(tmp_path / "k"), "--claims-json", str(hostile),
                      "--iss", "https://i", "--sub", "s", "--aud", "a"], capsys)
    assert code == exit_codes.USAGE, err


def test_cli_config_file(hostile: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    from microstax.cli import exit_codes
    monkeypatch.setenv("MICROSTAX_CONFIG", str(hostile))
    code, err = _cli(["env", "list"], capsys)
    assert code == exit_codes.CONFIG, err
    assert "config file" in err


def _raises(fn: Callable[[], Any], *types: type[BaseException]) -> BaseException:
    with pytest.raises(types) as info:
        fn()
    return info.value


def test_config_readers(hostile: Path) -> None:
    from microstax.controller.config import load_config as controller_load
    from microstax.identity import config as user_config
    from microstax.identity.exceptions import ConfigError
    from microstax.platform import ConfigError as PlatformConfigError
    from microstax.platform.config import load_config as platform_load
    from microstax.receivers.config import load_config as receiver_load
    _raises(lambda: user_config.load(hostile), ConfigError)
    _raises(lambda: controller_load(hostile), ConfigError)
    _raises(lambda: platform_load(hostile), PlatformConfigError)
    error = _raises(lambda: receiver_load(hostile), Exception)
    assert type(error).__name__ in ("ConfigError", "PolicyError")


def test_platform_dsn_file(hostile: Path, tmp_path: Path) -> None:
    from microstax.platform import ConfigError
    from microstax.platform.config import StateSettings, state_dsn
    settings = StateSettings(backend="postgresql", dsn_file=str(hostile), file="platform.toml")
    _raises(lambda: state_dsn(settings, tmp_path, environ={}), ConfigError)


def test_controller_files(hostile: Path) -> None:
    from microstax.controller.files import read_token_file
    from microstax.controller.renew import read_pid
    from microstax.identity.exceptions import SecretNotFound
    from microstax.identity.sessions import read_credential  # the controller's credential reader
    assert read_token_file(hostile) is None
    _raises(lambda: read_credential(hostile, "client secret", error=SecretNotFound), SecretNotFound)
    _raises(lambda: read_pid(hostile), OSError, ValueError)


def test_key_store_and_secret_references(hostile: Path, tmp_path: Path) -> None:
    from microstax.adapters.secrets import read_secret_reference
    from microstax.jose import KeyStore, KeyStoreError
    store = tmp_path / "store"
    store.mkdir()
    (store / "keys.json").symlink_to(hostile)
    _raises(lambda: KeyStore(store).load(), KeyStoreError)
    _raises(lambda: read_secret_reference(f"file:{hostile}", None), ValueError)


async def test_subject_token_file(hostile: Path) -> None:
    import importlib

    from microstax.identity.exceptions import InvalidSubjectToken
    try:  # the sign-in helpers' own module, where it exists
        read = importlib.import_module("microstax.identity.sessions").read_subject_file
    except (ImportError, AttributeError):
        from microstax.identity.service import IdentityService

        def read(path: str) -> Any:
            return IdentityService._read_subject_file(object(), path)  # type: ignore[arg-type]
    with pytest.raises(InvalidSubjectToken):
        await read(str(hostile))


def test_ca_files_and_kubeconfig(hostile: Path) -> None:
    from microstax.identity.exceptions import ConfigError
    from microstax.identity.kubeconfig import read_kubeconfig
    from microstax.oauth.http import TrustError, tls_verify
    error = _raises(lambda: tls_verify([hostile]), TrustError)
    assert "CA file" in str(error)
    _raises(lambda: read_kubeconfig(hostile), ConfigError)
