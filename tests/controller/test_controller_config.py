"""The controller config: the documented example parses; every mistake names file and key."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from microstax.controller import load_config, parse_config
from microstax.controller.config import Timing
from microstax.identity.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]

EXAMPLE = """
version = 1

[controller]
listen = "127.0.0.1:8412"
poll_interval = 1

[defaults]
issuer = "https://identity.example.com"
refresh_fraction = 0.5
jitter = 0.1

[[workload]]
name = "orders"
environment = "dev"
service = "orders"
targets = ["stx-eu-west-cluster", "stx-us-east-cluster"]
scopes = ["read"]
output = "/var/run/microstax/{target}.jwt"
subject = { type = "kubernetes", file = "/var/run/secrets/tokens/microstax" }
renew = { signal = "HUP", pid_file = "/run/app/app.pid" }

[[workload]]
name = "batch"
targets = ["stx-eu-west-cluster"]
output = "tokens/batch.jwt"
client = { id = "demo-workload", secret_file = "secrets/client-secret" }
renew = { command = ["/usr/local/bin/reload", "--quiet"], timeout = 5 }
min_backoff = 2
max_backoff = 30
"""


def parse(text: str, path: Path | None = None):  # type: ignore[no-untyped-def]
    import tomllib

    return parse_config(tomllib.loads(text), file="ctl.toml", path=path)


def test_example_parses_into_one_entry_per_target(tmp_path: Path) -> None:
    config = parse(EXAMPLE, tmp_path / "ctl.toml")
    assert config.listen_address == ("127.0.0.1", 8412)
    assert [e.key for e in config.entries] == [
        "orders/stx-eu-west-cluster", "orders/stx-us-east-cluster", "batch/stx-eu-west-cluster"]
    orders = config.entries[0]
    assert orders.issuer == "https://identity.example.com"
    assert orders.output == Path("/var/run/microstax/stx-eu-west-cluster.jwt")
    assert orders.subject is not None and orders.subject.kind == "kubernetes"
    assert orders.subject.token_type == "jwt"
    assert orders.renew is not None and orders.renew.signal == signal.SIGHUP
    assert orders.timing == Timing(0.5, 0.1, 1.0, 60.0)
    batch = config.entries[2]
    assert batch.output == tmp_path / "tokens/batch.jwt"  # relative to the config file
    assert batch.client is not None and batch.client.secret_file == tmp_path / "secrets/client-secret"
    assert batch.renew is not None and batch.renew.command == ("/usr/local/bin/reload", "--quiet")
    assert batch.timing.min_backoff == 2 and batch.timing.max_backoff == 30


def test_docs_example_is_valid() -> None:
    """The example in docs/controller.md is the one users copy: it must parse."""
    text = (REPO / "docs" / "controller.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks, "docs/controller.md has no toml example"
    for block in blocks:
        if "[[workload]]" in block:
            parse(block)


def test_deploy_config_is_valid() -> None:
    """The controller config shipped in deploy/ (a ConfigMap) must parse."""
    import yaml

    found = 0
    for path in sorted((REPO / "deploy").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ConfigMap":
                for name, value in (doc.get("data") or {}).items():
                    if name.endswith(".toml") and "[[workload]]" in value:
                        parse(value)
                        found += 1
    assert found >= 1


@pytest.mark.parametrize(("snippet", "key", "words"), [
    ('client = {id = "x", secret = "hunter2"}', "workload[0].client.secret", "never goes in the config"),
    ('targets = []', "workload[0].targets", "at least one"),
    ('targets = ["a", "b"]\noutput = "/t/x.jwt"', "workload[0].output", "{target}"),
    ('colour = "blue"', "workload[0].colour", "unknown key"),
    ('refresh_fraction = 0.95', "workload[0].refresh_fraction", "at most 0.9"),
    ('jitter = 0.45', "workload[0].jitter", "at most 0.4"),
    ('refresh_fraction = 0.1\njitter = 0.1', "workload[0].jitter", "0.05..0.95"),
    ('min_backoff = 10\nmax_backoff = 5', "workload[0].max_backoff", "at least min_backoff"),
    ('renew = {signal = "KILL", pid_file = "/p"}', "workload[0].renew.signal", "cannot be"),
    ('renew = {signal = "WOBBLE", pid_file = "/p"}', "workload[0].renew.signal", "not a signal"),
    ('renew = {command = "reload.sh"}', "workload[0].renew.command", "no shell"),
    ('renew = {timeout = 3}', "workload[0].renew.command", "either command"),
    ('output = "/t/{cluster}.jwt"', "workload[0].output", "unknown placeholder"),
    ('issuer = "ftp://x"', "workload[0].issuer", "http(s) URL"),
    ('scopes = ["re ad"]', "workload[0].scopes", "not a valid value"),
])
def test_mistakes_name_file_and_key(snippet: str, key: str, words: str) -> None:
    base = {"name": 'name = "w"', "issuer": 'issuer = "http://127.0.0.1:8411"',
            "targets": 'targets = ["stx-eu-west-cluster"]', "output": 'output = "/t/{target}.jwt"',
            "subject": 'subject = {type = "jwt", file = "/s"}'}
    for line in snippet.splitlines():
        base[line.split("=")[0].strip()] = line
    if "client" in base:
        base.pop("subject")
    text = "[[workload]]\n" + "\n".join(base.values()) + "\n"
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.message.startswith(f"ctl.toml: {key}: "), info.value.message
    assert words in info.value.message


def test_credential_rules() -> None:
    common = '[[workload]]\nname = "w"\nissuer = "http://127.0.0.1:1"\ntargets = ["t"]\noutput = "/t/x"\n'
    with pytest.raises(ConfigError, match="exactly one credential"):
        parse(common)
    with pytest.raises(ConfigError, match="exactly one credential"):
        parse(common + 'subject = {file = "/s"}\nclient = {id = "c", secret_file = "/f"}\n')
    with pytest.raises(ConfigError, match=r"workload\[0\]\.service: .*own identity"):
        parse(common + 'service = "orders"\nclient = {id = "c", secret_file = "/f"}\n')
    with pytest.raises(ConfigError, match=r"subject\.type: must be 'kubernetes', 'spiffe' or 'jwt'"):
        parse(common + 'subject = {type = "x509", file = "/s"}\n')


def test_defaults_apply_and_errors_point_at_defaults() -> None:
    text = ('[defaults]\nissuer = "http://127.0.0.1:8411"\nmax_backoff = 0.5\n'
            '[[workload]]\nname = "w"\ntargets = ["t"]\noutput = "/t/x"\nsubject = {file = "/s"}\n')
    with pytest.raises(ConfigError, match=r"ctl.toml: defaults.max_backoff: must be at least min_backoff"):
        parse(text)
    config = parse(text.replace("max_backoff = 0.5", "max_backoff = 5"))
    assert config.entries[0].issuer == "http://127.0.0.1:8411"
    assert config.entries[0].timing.max_backoff == 5


def test_outputs_must_be_distinct_and_names_unique() -> None:
    w = ('[[workload]]\nname = "{n}"\nissuer = "http://127.0.0.1:1"\ntargets = ["t"]\n'
         'output = "/t/{{target}}.jwt"\nsubject = {{file = "/s"}}\n')
    with pytest.raises(ConfigError, match=r"workload\[1\]\.output: /t/t.jwt is also the output of a/t"):
        parse(w.format(n="a") + w.format(n="b"))
    with pytest.raises(ConfigError, match=r"workload\[1\]\.name: .*defined twice"):
        parse(w.format(n="a") + w.format(n="a").replace("/t/{target}", "/u/{target}"))


def test_controller_table() -> None:
    w = '[[workload]]\nname = "w"\nissuer = "http://127.0.0.1:1"\ntargets = ["t"]\noutput = "/t/x"\nsubject = {file = "/s"}\n'
    assert parse('[controller]\nlisten = ""\n' + w).listen is None
    with pytest.raises(ConfigError, match=r"controller\.listen: expected host:port"):
        parse('[controller]\nlisten = "8412"\n' + w)
    with pytest.raises(ConfigError, match=r"controller\.on_expiry"):
        parse('[controller]\non_expiry = "shrug"\n' + w)
    with pytest.raises(ConfigError, match="no \\[\\[workload\\]\\] entries"):
        parse("[controller]\n")


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[workload]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
