"""config_edit.py: adding a platform keeps the user's file and yields a config the CLI reads."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from microstax.identity import config as config_mod
from microstax.identity.config_edit import add_platform, edited_text
from microstax.identity.exceptions import ConfigError

LOCAL = "http://127.0.0.1:8411"


def test_a_new_file_gets_the_environment_and_the_default(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    edit = add_platform(path, "dev", LOCAL + "/", make_default=True)
    assert edit.changed and edit.default and edit.platform == LOCAL
    cfg = config_mod.load(path)
    assert cfg.default_name() == "dev" and cfg.environment("dev").issuer == LOCAL
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_file_keeps_its_comments_and_order(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    mine = '# my notes\n[environments.corp]\nissuer = "https://sso.example.com/realms/corp"\ncatalog = false\n'
    path.write_text(mine)
    edit = add_platform(path, "local", LOCAL, make_default=True)
    text = path.read_text()
    assert mine in text and text.startswith('default_environment = "local"\n')
    assert edit.default
    cfg = config_mod.load(path)
    assert set(cfg.environments) == {"corp", "local"}
    # the same again changes nothing
    assert not add_platform(path, "local", LOCAL).changed
    assert path.read_text() == text


def test_refusals_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[environments.dev]\nplatform = "https://other.example.com"\n')
    with pytest.raises(ConfigError, match="already configured"):
        add_platform(path, "dev", LOCAL)
    with pytest.raises(ConfigError, match="not an http"):
        edited_text("", "dev", "ftp://x", make_default=False)
    with pytest.raises(ConfigError, match="only allowed on loopback"):
        edited_text("", "dev", "http://platform.example.com", make_default=False)
    with pytest.raises(ConfigError, match="not an environment name"):
        edited_text("", "a b", LOCAL, make_default=False)
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        add_platform(path, "dev", LOCAL)
    assert path.read_text() == "this is = = not toml"


def test_the_cli_adds_a_platform(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    env = {**os.environ, "MICROSTAX_CONFIG": str(config)}
    cmd = [sys.executable, "-m", "microstax", "config", "add-platform", "local", LOCAL, "--default"]
    done = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["kind"] == "config.add-platform" and doc["changed"] and doc["default"], doc
    assert config_mod.load(config).default_name() == "local"
    refused = subprocess.run([*cmd[:-2], "https://other.example.com"], env=env, capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert refused.returncode != 0 and "already configured" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
