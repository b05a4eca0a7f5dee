"""``microstax platform init | show-config | rotate-keys | hash-secret`` and serve's refusals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.harness.platform import MICROSTAX

from microstax.cli import exit_codes
from microstax.cli.main import main
from microstax.jose import KeyStore
from microstax.platform.secrets import verify_secret


def test_init_show_config_and_rotate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["platform", "init", "--data-dir", str(tmp_path), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)["created"]
    assert str(tmp_path / "platform.toml") in made
    assert (tmp_path / "demo-workload.secret").stat().st_mode & 0o777 == 0o600
    secret = (tmp_path / "demo-workload.secret").read_text().strip()
    assert secret not in (tmp_path / "platform.toml").read_text()
    assert main(["platform", "init", "--data-dir", str(tmp_path)]) == 0
    assert "already initialised" in capsys.readouterr().out

    assert main(["platform", "show-config", "--data-dir", str(tmp_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["devAutoApproveUser"] == "dev"
    assert secret not in json.dumps(shown)

    before = {k.kid for k in KeyStore(tmp_path).load().published()}
    assert main(["platform", "rotate-keys", "--data-dir", str(tmp_path), "--cluster", "central", "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)["rotated"]
    assert set(rotated) == {"central"}
    after = {k.kid for k in KeyStore(tmp_path).load().published()}
    assert before < after and len(after) == 4
    assert main(["platform", "rotate-keys", "--data-dir", str(tmp_path), "--cluster", "nope"]) == exit_codes.CONFIG


def test_broken_config_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["platform", "init", "--data-dir", str(tmp_path)]) == 0
    path = tmp_path / "platform.toml"
    path.write_text(path.read_text().replace("lifetime = 300 ", "lifetime = \"5m\" "))
    assert main(["platform", "show-config", "--data-dir", str(tmp_path)]) == exit_codes.CONFIG
    assert "tokens.lifetime" in capsys.readouterr().err


def test_hash_secret_reads_stdin() -> None:
    out = subprocess.run([str(MICROSTAX), "platform", "hash-secret"], input=b"s3cret\n",
                         capture_output=True, check=True, timeout=60).stdout.decode().strip()
    assert out.startswith("scrypt$") and verify_secret("s3cret", out)


def test_serve_refuses_dev_auto_approve_off_loopback(tmp_path: Path) -> None:
    r = subprocess.run([str(MICROSTAX), "platform", "serve", "--data-dir", str(tmp_path),
                        "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == exit_codes.CONFIG
    assert b"loopback" in r.stderr
