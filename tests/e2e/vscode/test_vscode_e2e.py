"""End to end in a real VS Code: code-server in headless Chromium, the packaged extension, the
real daemon it starts (``.venv/bin/python -m microstax daemon``), the real platform on loopback
and the real keyring of the private desktop session.

The browser steps are in drive.mjs (playwright-core): wait for the status bar, sign in (device
flow, approved by the platform's dev mode on loopback), "MicroStax: Federate Identity Token…"
through the palette and its quick picks, read the clipboard, hover a JWT in a file, sign out.
Here we start everything, then check what it saw: the clipboard token is verified with the
project's verifier (``microstax.jose``: issuer, audience, both signatures).

Screenshots: test-artifacts/vscode/. With MICROSTAX_VSCODE_UPDATE_README=1 the ones the
extension's README shows are copied to extension/media/, and the ones docs/vscode.md shows
(every state, from both tests) to docs/vscode/.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from tests.harness.net import free_port
from tests.harness.platform import PlatformServer

from microstax.jose import KeySet, Policy, verify

from .conftest import REPO, Toolchain

pytestmark = [pytest.mark.vscode, pytest.mark.desktop]

ENVIRONMENT = "dev"  # the platform's own environment (its SPIFFE IDs name it)
CLUSTER = "stx-eu-west-cluster"
SERVICE = "payments"
TOKEN_FILE = "tokens.yaml"
ARTIFACTS = REPO / "test-artifacts" / "vscode"
README_MEDIA = REPO / "extension" / "media"
README_SHOTS = {  # screenshot → the name the README uses
    "palette-2-cluster": "palette",
    "federated": "federated",
    "hover": "hover",
    "statusbar": "statusbar",
    "statusbar-signed-out": "statusbar-signed-out",
    "view": "view",
}
DOCS_MEDIA = REPO / "docs" / "vscode"
DOCS_SHOTS = ("statusbar", "palette-2-cluster", "federated", "decoded", "view", "hover",
              "statusbar-signed-out", "not-signed-in")
STATES_SHOTS = ("first-run", "walkthrough", "platform-down-view", "platform-down-pick",
                "statusbar-signed-in", "malformed-hover", "session-expired")
PYTHON = REPO / ".venv" / "bin" / "python"
START_TIMEOUT_S = 60
DRIVE_TIMEOUT_S = 420

QUIET_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "security.workspace.trust.enabled": False,
    "chat.disableAIFeatures": True,
    "git.enabled": False,
    "window.commandCenter": False,
    "editor.minimap.enabled": False,
    "editor.hover.delay": 300,
    "workbench.colorTheme": "Default Dark Modern",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
}


@dataclass
class CodeServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (code-server, its extension hosts, the daemon), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def code_server_env(tools: Toolchain, root: Path) -> dict[str, str]:
    """This process's environment (so the desktop session's keyring reaches the daemon) with a
    throwaway HOME and config/cache dirs, the daemon's state under ``root``, and Node 24 first."""
    env = dict(os.environ)
    home = root / "home"
    for d in (home / ".config", home / ".cache", root / "state"):
        d.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "MICROSTAX_STATE_DIR": str(root / "state"),
        "PATH": f"{tools.node24.parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    # The extension passes microstax.configFile; a MICROSTAX_CONFIG from outside must not win.
    env.pop("MICROSTAX_CONFIG", None)
    return env


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path / "platform") as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path, platform: PlatformServer) -> Path:
    """A folder with one file holding a token the platform issued (for the hover)."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    token = platform.client_credentials(audience=CLUSTER)["access_token"]
    (folder / TOKEN_FILE).write_text(f"token: {token}\n")
    return folder


def user_data_dir(root: Path) -> Path:
    return root / "user-data"


@contextlib.contextmanager
def running_code_server(root: Path, tools: Toolchain, platform: PlatformServer, workspace: Path, *,
                        python: Path | None, env: dict[str, str], artifacts: Path,
                        first_run: bool = False) -> Iterator[CodeServer]:
    """code-server with the packaged extension installed, opened on ``workspace``. ``python``:
    the ``microstax.python`` setting (None: unset, so the extension looks for the daemon itself).
    Its log and the extension's go to ``artifacts`` at the end."""
    user_data, extensions = user_data_dir(root), root / "extensions"
    (user_data / "User").mkdir(parents=True)
    extensions.mkdir(parents=True)

    settings: dict[str, Any] = {**QUIET_SETTINGS, "microstax.logLevel": "debug"}
    if not first_run:
        # The CLI/daemon user config naming the platform; the extension passes it as configFile.
        # (A first run has none: the daemon reads the CLI's default file, which does not exist.)
        config = root / "microstax" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(tomli_w.dumps({
            "default_environment": ENVIRONMENT,
            "defaults": {"timeout": 10.0, "login_method": "device"},
            "environments": {ENVIRONMENT: {"platform": platform.issuer}},
        }))
        settings.update({"microstax.configFile": str(config), "microstax.environment": ENVIRONMENT})
    if python is not None:
        settings["microstax.python"] = str(python)
    # A code-server window is a remote one: machine-scoped settings (microstax.python,
    # configFile) come from the Machine settings, the rest from the User settings.
    (user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    (user_data / "Machine").mkdir()
    (user_data / "Machine" / "settings.json").write_text(json.dumps(settings, indent=2))

    port = free_port()
    cs_config = root / "code-server.yaml"
    cs_config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions),
              "--config", str(cs_config)]

    install = subprocess.run([str(tools.code_server), *common, "--install-extension", str(tools.vsix)],
                             env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=120, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "microstax.microstax-identity" in (extensions / "extensions.json").read_text()

    log_path = root / "code-server.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(tools.code_server), *common, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             "--disable-getting-started-override", "--reconnection-grace-time", "5", str(workspace)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    server = CodeServer(url=f"http://127.0.0.1:{port}/?folder={workspace}", process=proc,
                        log_path=log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"code-server exited ({proc.returncode}):\n{server.log_tail()}", pytrace=False)
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"code-server did not answer in {START_TIMEOUT_S}s:\n{server.log_tail()}",
                            pytrace=False)
            time.sleep(0.2)
        yield server
    finally:
        stop_group(proc)
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, artifacts / "code-server.log")
        for host_log in sorted(user_data.glob("logs/*/exthost*/microstax.microstax-identity/*.log")):
            shutil.copy(host_log, artifacts / f"extension-{host_log.name}")


@pytest.fixture
def code_server(tmp_path: Path, vscode_toolchain: Toolchain, desktop_session: Any,
                platform: PlatformServer, workspace: Path) -> Iterator[CodeServer]:
    root = tmp_path / "vscode"
    with running_code_server(root, vscode_toolchain, platform, workspace, python=PYTHON,
                             env=code_server_env(vscode_toolchain, root), artifacts=ARTIFACTS) as server:
        yield server


def drive(tools: Toolchain, server: CodeServer, tmp_path: Path, *, scenario: str = "federate",
          artifacts: Path = ARTIFACTS, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs drive.mjs; ``scenario``: ``federate`` (the main walk), ``states`` or
    ``private-environment``."""
    result_path = tmp_path / "drive-result.json"
    env = dict(os.environ)
    env.update({
        "MSX_SCENARIO": scenario,
        "MSX_URL": server.url,
        "MSX_E2E_DIR": str(tools.e2e_dir),
        "MSX_CHROMIUM": str(tools.chromium),
        "MSX_ARTIFACTS": str(artifacts),
        "MSX_RESULT": str(result_path),
        "MSX_PROFILE": str(tmp_path / "chromium-profile"),
        "MSX_ENV": ENVIRONMENT,
        "MSX_CLUSTER": CLUSTER,
        "MSX_SERVICE": SERVICE,
        "MSX_TOKEN_FILE": TOKEN_FILE,
        "MSX_PGID": str(server.process.pid),  # started with setsid: its pid is the group id
        "HOME": str(tmp_path / "browser-home"),
        **(extra or {}),
    })
    proc = subprocess.run([str(tools.node24), str(Path(__file__).with_name("drive.mjs"))], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=DRIVE_TIMEOUT_S, check=False)
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "drive.log").write_text(proc.stdout + proc.stderr)
    result: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    if proc.returncode != 0 or not result.get("ok"):
        pytest.fail(f"the browser steps failed (exit {proc.returncode}): {result.get('error') or proc.stderr[-3000:]}"
                    f"\n--- code-server log ---\n{server.log_tail()}", pytrace=False)
    return result


@pytest.mark.timeout(900)
def test_federate_from_the_palette(tmp_path: Path, vscode_toolchain: Toolchain, platform: PlatformServer,
                                   code_server: CodeServer) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = drive(vscode_toolchain, code_server, tmp_path)

    # The status bar said who, where and for how long, then the neutral signed-out state.
    assert re.fullmatch(r"dev@dev · (\d+m|<1m) left", result["statusTexts"]["signedIn"]), result["statusTexts"]
    assert result["statusTexts"]["signedOut"] == "MicroStax: Sign in", result["statusTexts"]

    # Killed, the daemon was restarted, the user told once, the identity back from the keyring.
    assert "Show Logs" in result["notifications"]["crash"]
    assert result["statusTexts"]["afterRestart"].startswith("dev@dev · ")

    # Signed out, federating fails with the daemon's NOT_SIGNED_IN, offering Sign In.
    assert "Sign In" in result["notifications"]["notSignedIn"]
    assert "Signed in as" in result["statusTooltip"] and platform.issuer in result["statusTooltip"]

    # The notification said for whom, for which cluster, until when.
    note = result["notifications"]["federated"]
    assert CLUSTER in note and f"service {SERVICE}" in note and "valid until" in note, note

    # "Decode" opened the header and claims as read-only JSON, the verdict first; the view shows
    # the cluster's new token.
    decoded = "".join(result["decoded"].split())  # the editor wraps long lines
    assert decoded.startswith("//Notverified"), result["decoded"][:800]
    assert '"sub":"spiffe://' in decoded and f"/svc/{SERVICE}" in decoded, result["decoded"][:800]
    assert CLUSTER in result["viewRow"] and re.search(rf"{SERVICE} · (\d+m|<1m) left", result["viewRow"]), result["viewRow"]

    # The clipboard holds a token for the cluster that the project's verifier accepts.
    token = result["clipboard"]
    assert token.startswith("eyJ") and token.count(".") == 2, token[:40]
    # jwks_uri publishes the classical keys only; the ML-DSA keys are at microstax_pq_jwks_uri.
    meta = httpx.get(f"{platform.issuer}/.well-known/openid-configuration", timeout=10).json()
    jwks = httpx.get(platform.jwks_uri, timeout=10).json()
    pq_jwks = httpx.get(meta["microstax_pq_jwks_uri"], timeout=10).json()
    verified = verify(token, KeySet.from_jwks({"keys": [*jwks["keys"], *pq_jwks["keys"]]}),
                      Policy(issuer=platform.issuer, audience=CLUSTER, require_pq=True))
    assert verified.verdict.valid
    assert (verified.verdict.classical, verified.verdict.pq) == ("verified", "verified")
    claims = verified.claims
    assert claims["sub"].endswith(f"/svc/{SERVICE}") and claims["act"]["sub"] == "dev"
    aud = claims["aud"]
    assert aud == CLUSTER or CLUSTER in aud

    # The hover card on the file's token: the verdict first, its subject and both signatures.
    card = result["hover"]
    assert card.startswith("✓ Valid · JWT"), card
    assert "spiffe://" in card and "demo" in card, card
    assert "Classical (ES256): ✓ verified" in card.replace("`", ""), card
    assert "Post-quantum (ML-DSA-65): ✓ verified" in card.replace("`", ""), card
    assert "Decode · Verify · Copy Claims" in card, card
    claims = json.loads(result["claims"])  # Copy Claims from the card: the file's token's claims
    assert claims["aud"] == CLUSTER or CLUSTER in claims["aud"], claims
    assert claims["sub"].startswith("spiffe://") and claims["iss"] == platform.issuer, claims

    for shot in ("statusbar", "palette-1-environment", "palette-2-cluster", "palette-3-service",
                 "federated", "decoded", "view", "hover", "statusbar-signed-out"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 1000, shot
    if os.environ.get("MICROSTAX_VSCODE_UPDATE_README") == "1":
        README_MEDIA.mkdir(exist_ok=True)
        for shot, name in README_SHOTS.items():
            shutil.copy(ARTIFACTS / f"{shot}.png", README_MEDIA / f"{name}.png")
        DOCS_MEDIA.mkdir(exist_ok=True)
        for shot in DOCS_SHOTS:
            shutil.copy(ARTIFACTS / f"{shot}.png", DOCS_MEDIA / f"{shot}.png")


# ---- a bad python setting ------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_a_bad_python_setting_says_so(tmp_path: Path, vscode_toolchain: Toolchain, desktop_session: Any,
                                      platform: PlatformServer, workspace: Path) -> None:
    """``microstax.python`` names a file that is no Python: the error names the setting and
    offers Open Settings (which opens it); the status bar says the daemon stopped, in the error
    colour; the view says the daemon is not running."""
    root = tmp_path / "vscode"
    missing = tmp_path / "no-such-python"
    artifacts = ARTIFACTS / "bad-python"
    with running_code_server(root, vscode_toolchain, platform, workspace, python=missing,
                             env=code_server_env(vscode_toolchain, root), artifacts=artifacts) as server:
        result = drive(vscode_toolchain, server, tmp_path, scenario="bad-python", artifacts=artifacts)
    note = result["notifications"]["badPython"]
    assert "microstax.python" in note and f"({missing}) does not exist" in note and "Open Settings" in note, note
    assert result["statusTexts"]["badPython"] == "MicroStax: daemon stopped", result["statusTexts"]
    assert result["statusColours"]["badPython"] not in ("rgba(0, 0, 0, 0)", "transparent"), result["statusColours"]
    assert "Restart Daemon" in result["welcome"] and "Show Logs" in result["welcome"], result["welcome"]
    assert "Python interpreter that has the" in result["settingShown"], result["settingShown"]
    assert (artifacts / "bad-python.png").stat().st_size > 1000
    if os.environ.get("MICROSTAX_VSCODE_UPDATE_README") == "1":
        DOCS_MEDIA.mkdir(exist_ok=True)
        shutil.copy(artifacts / "bad-python.png", DOCS_MEDIA / "bad-python.png")


# ---- every other state, from a first run ---------------------------------------------------

STATES_ARTIFACTS = ARTIFACTS / "states"
SESSION_LIFETIME_S = 60  # the platform's minimum: the session expires during the test


@pytest.mark.timeout(900)
def test_every_state_from_a_first_run(tmp_path: Path, vscode_toolchain: Toolchain, desktop_session: Any) -> None:
    """No config file: the welcome view and the walkthrough; Configure Platform adds the live
    platform and one that is down (the view and the cluster step say "unreachable" with Retry);
    sign in; a malformed token gets a card and a diagnostic; the platform stops and the session
    expires: status bar, tooltip, view and a notification agree."""
    tools = vscode_toolchain
    with PlatformServer(tmp_path / "platform",
                        config_overrides={"tokens": {"session_lifetime": SESSION_LIFETIME_S}}) as live:
        folder = tmp_path / "workspace"
        folder.mkdir()
        token = live.client_credentials(audience=CLUSTER)["access_token"]
        head, _, sig = token.split(".")
        not_json = base64.urlsafe_b64encode(b'{"sub": "dev", "exp": 17').rstrip(b"=").decode()
        (folder / "malformed.txt").write_text(f"token: {head}.{not_json}.{sig}\n")
        # A workspace must not choose what runs or which config the daemon reads: these are
        # machine-scoped settings, so VS Code ignores them here (else the daemon would not start).
        (folder / ".vscode").mkdir()
        (folder / ".vscode" / "settings.json").write_text(json.dumps({
            "microstax.python": str(tmp_path / "evil" / "python3"),
            "microstax.daemonCommand": ["/bin/false"],
            "microstax.configFile": str(tmp_path / "evil" / "config.toml"),
        }))
        root = tmp_path / "vscode"
        env = code_server_env(tools, root)
        assert live.process is not None
        with running_code_server(root, tools, live, folder, python=PYTHON, env=env,
                                 artifacts=STATES_ARTIFACTS, first_run=True) as server:
            result = drive(tools, server, tmp_path, scenario="states", artifacts=STATES_ARTIFACTS, extra={
                "MSX_PLATFORM_URL": live.issuer,
                "MSX_DOWN_URL": f"http://127.0.0.1:{free_port()}",
                "MSX_PLATFORM_PGID": str(live.process.pid),
            })

    texts, notes = result["statusTexts"], result["notifications"]
    # The workspace's settings were ignored: the daemon is the machine setting's Python.
    assert result["daemons"] == [[str(PYTHON), "-m", "microstax", "daemon", "--stdio"]], result["daemons"]
    # First run: neutral "Sign in" (no error colour), the welcome view with its four actions.
    assert texts["firstRun"] == "MicroStax: Sign in", texts
    assert result["statusColours"]["firstRun"] in ("rgba(0, 0, 0, 0)", "transparent"), result["statusColours"]
    for action in ("Start Local Platform", "Configure Platform…", "Sign In", "Open Docs"):
        assert action in result["welcome"], result["welcome"]
    assert "127.0.0.1:8411" in result["welcome"]
    for step in ("The daemon is running", "Choose or start a platform", "Sign in", "Federate a token",
                 "Hover a token"):
        assert step in result["walkthrough"], result["walkthrough"]

    # Configure Platform wrote the CLI's own config file (no TOML by hand), which the CLI reads.
    assert f"added environment {ENVIRONMENT}" in notes["configured"], notes
    config = Path(env["XDG_CONFIG_HOME"]) / "microstax" / "config.toml"
    cli = subprocess.run([str(PYTHON), "-m", "microstax", "env", "list", "--json"], env={**env, "MICROSTAX_CONFIG": str(config)},
                         cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    assert ENVIRONMENT in cli.stdout and "down" in cli.stdout, cli.stdout

    # Unreachable is not empty: the view row and the cluster step say so, with Retry.
    assert "Platform unreachable" in result["viewDown"] and "Retry" in result["viewDown"], result["viewDown"]
    assert "Retry" in result["pickDown"] and "Start Local Platform" in result["pickDown"], result["pickDown"]
    assert "No clusters" not in result["pickDown"]

    # Signed in: who, where, how long.
    assert re.fullmatch(rf"dev@{ENVIRONMENT} · (1m|<1m) left", texts["signedIn"]), texts

    # The malformed token: a diagnostic (VS Code shows it atop the hover) and a card that says
    # what is wrong, first.
    hover = result["malformedHover"]
    assert hover.startswith("This looks like a JWT but is malformed: the payload is not valid JSON"), hover
    assert "\n✗ Malformed JWT" in hover and "What is wrong: the payload is not valid JSON" in hover, hover

    # Expired: the status bar, its tooltip, the view and a notification agree.
    assert texts["expired"] == f"MicroStax: session expired ({ENVIRONMENT})", texts
    assert "Sign In" in notes["expired"] and "has expired" in notes["expired"], notes
    assert "session expired" in result["viewExpired"], result["viewExpired"]
    assert "expired" in result["statusTooltip"], result["statusTooltip"]

    for shot in STATES_SHOTS:
        assert (STATES_ARTIFACTS / f"{shot}.png").stat().st_size > 1000, shot
    if os.environ.get("MICROSTAX_VSCODE_UPDATE_README") == "1":
        DOCS_MEDIA.mkdir(exist_ok=True)
        for shot in STATES_SHOTS:
            shutil.copy(STATES_ARTIFACTS / f"{shot}.png", DOCS_MEDIA / f"{shot}.png")


# ---- the private environment ---------------------------------------------------------------

PRIVATE_ENV_ARTIFACTS = ARTIFACTS / "private-environment"
EXTENSION_ID = "microstax.microstax-identity"


def has_microstax(python: Path) -> bool:
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('microstax') is None)"
    return subprocess.run([str(python), "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60, check=False).returncode == 0


@pytest.mark.timeout(900)
def test_daemon_from_the_private_environment(tmp_path: Path, vscode_toolchain: Toolchain,
                                             desktop_session: Any, platform: PlatformServer,
                                             workspace: Path) -> None:
    """No ``microstax.python`` and no interpreter with the package: the extension makes its
    private environment from the wheel inside the .vsix (a venv in its global storage, pip
    fetching the dependencies from the package index pip is configured with), says so, and the
    daemon it starts runs from it."""
    tools = vscode_toolchain
    root = tmp_path / "vscode"
    env = code_server_env(tools, root)
    # A Python 3.11+ without the package, first on PATH: what the extension makes the venv with.
    # code-server's extension host takes PATH from a login shell of the (throwaway) HOME, so it
    # goes there as well as into code-server's own environment.
    base = Path(getattr(sys, "_base_executable", sys.executable))
    bare = tmp_path / "bare-python"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120,
                   stdin=subprocess.DEVNULL, capture_output=True)
    assert not has_microstax(bare / "bin" / "python3")
    profile = f'export PATH="{bare / "bin"}:$PATH"\n'
    for name in (".profile", ".bash_profile", ".zprofile"):
        (Path(env["HOME"]) / name).write_text(profile)
    env["PATH"] = os.pathsep.join([str(tools.node24.parent), str(bare / "bin"), env["PATH"]])
    env.pop("VIRTUAL_ENV", None)
    with zipfile.ZipFile(tools.vsix) as vsix:
        wheels = [n.rsplit("/", 1)[1] for n in vsix.namelist() if n.startswith("extension/bundled/")]
    assert len(wheels) == 1 and wheels[0].startswith("microstax-"), wheels
    version = wheels[0].split("-")[1]

    with running_code_server(root, tools, platform, workspace, python=None, env=env,
                             artifacts=PRIVATE_ENV_ARTIFACTS) as server:
        result = drive(tools, server, tmp_path, scenario="private-environment",
                       artifacts=PRIVATE_ENV_ARTIFACTS)

    [storage] = user_data_dir(root).glob(f"**/globalStorage/{EXTENSION_ID}")
    venv = storage / "python-env"
    note = result["notifications"]["privateEnvironment"]
    assert "created a private Python environment" in note and f"microstax {version}" in note, note
    marker = json.loads((venv / "microstax-env.json").read_text())
    assert (marker["wheel"], marker["version"]) == (wheels[0], version), marker
    assert marker["basePython"] == str(bare / "bin" / "python3"), marker
    assert not has_microstax(Path(marker["basePython"]))
    # The daemon the extension started is the venv's (the language client adds --stdio).
    daemon = [str(venv / "bin" / "python"), "-m", "microstax", "daemon", "--stdio"]
    assert result["daemons"] == [daemon], result["daemons"]
    assert re.search(rf"@{ENVIRONMENT} · |MicroStax: Sign in", result["statusTexts"]["initial"])
    answer = subprocess.run([str(venv / "bin" / "python"), "-m", "microstax", "--version"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0 and version in answer.stdout, answer.stdout + answer.stderr
    [log] = PRIVATE_ENV_ARTIFACTS.glob("extension-*.log")
    text = log.read_text()
    assert "from the private environment of this extension" in text, text[-3000:]
    assert f"Installing {wheels[0]} (bundled with this extension)" in text, text[-3000:]
