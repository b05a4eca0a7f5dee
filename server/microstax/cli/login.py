"""``microstax login`` and ``microstax logout``.

A person signs in with the device flow (RFC 8628: the code and URL are printed on stderr, and
a browser is opened when there is one) or with the browser and PKCE on a loopback redirect
(RFC 8252) where the identity provider offers it. A workload signs in without a human:
``--client-id`` with the secret from the keyring or a file, or ``--subject-token-file``.
Refresh tokens and secrets go to the OS keyring only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import exit_codes
from .client_common import config_option, env_option, run, stderr
from .errors import CLIError
from .output import echo, emit_json, json_option


@click.command()
@env_option
@config_option
@click.option("--method", type=click.Choice(["auto", "device", "browser"]), default=None,
              help="How a person signs in (default: the environment's login_method, else auto: "
              "the browser when there is one and the IdP offers it, else the device flow).")
@click.option("--no-browser", is_flag=True, help="Never open a browser; print the URL instead.")
@click.option("--force", is_flag=True, help="Sign in again even when the session is still valid.")
@click.option("--timeout", type=click.FloatRange(5, 3600), default=None,
              help="Give up waiting for the approval after this many seconds.")
@click.option("--client-id", metavar="ID", help="Sign a workload in with client credentials.")
@click.option("--client-secret-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The workload's client secret, from this file (first line).")
@click.option("--client-secret-keyring", metavar="NAME",
              help="The workload's client secret, from this OS keyring entry (service 'microstax').")
@click.option("--client-secret-stdin", is_flag=True,
              help="Read the client secret from stdin and keep it in the OS keyring.")
@click.option("--subject-token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A workload's own JWT, read from this file on every use.")
@click.option("--subject-token-type", type=click.Choice(["kubernetes", "spiffe", "jwt"]), default="jwt",
              show_default=True, help="What the subject token file holds.")
@click.option("--scope", "scopes", multiple=True, help="Scopes for client credentials (repeatable).")
@json_option
def login(environment: str | None, config_file: Path | None, method: str | None, no_browser: bool,
          force: bool, timeout: float | None, client_id: str | None, client_secret_file: Path | None,
          client_secret_keyring: str | None, client_secret_stdin: bool, subject_token_file: Path | None,
          subject_token_type: str, scopes: tuple[str, ...], as_json: bool) -> None:
    """Sign in to an environment (one sign-in at a time per environment, shared by every caller)."""
    from ..identity.models import DevicePrompt, SubjectTokenSource
    from ..identity.service import IdentityService, gui_available

    secret_sources = [s for s in (client_secret_file, client_secret_keyring, client_secret_stdin) if s]
    if len(secret_sources) > 1:
        raise CLIError("give the client secret one way only", exit_code=exit_codes.USAGE, code="usage")
    if secret_sources and not client_id:
        raise CLIError("a client secret needs --client-id", exit_code=exit_codes.USAGE, code="usage")
    if client_id and subject_token_file:
        raise CLIError("--client-id and --subject-token-file exclude each other",
                       exit_code=exit_codes.USAGE, code="usage")
    if client_id and not secret_sources:
        raise CLIError("client credentials need a secret", exit_code=exit_codes.USAGE, code="usage",
                       hint="--client-secret-keyring NAME, --client-secret-file FILE or --client-secret-stdin")
    stdin_secret = None
    if client_secret_stdin:
        stdin_secret = sys.stdin.readline().strip()
        if not stdin_secret:
            raise CLIError("no secret on stdin", exit_code=exit_codes.USAGE, code="usage")

    def prompt(p: DevicePrompt) -> None:
        expires = max(0, int(p.expires_at - time.time()))
        if p.kind == "device":
            stderr(f"To sign in to {p.environment}, open {p.verification_uri} and enter the code "
                   f"{p.user_code} (valid for {expires // 60} min).")
            if p.verification_uri_complete:
                stderr(f"Or open {p.verification_uri_complete}")
            if not no_browser and gui_available():
                import webbrowser

                try:
                    webbrowser.open(p.verification_uri_complete or p.verification_uri, new=1)
                except webbrowser.Error:
                    pass
        else:
            stderr(f"Sign in to {p.environment} in your browser: {p.verification_uri}")
        stderr("Waiting for the approval…")

    def print_url(url: str) -> bool:
        return True  # the prompt above printed it; the user opens it

    async def body(service: IdentityService) -> object:
        if client_id:
            ref = None
            if client_secret_keyring:
                ref = f"keyring:{client_secret_keyring}"
            elif client_secret_file:
                ref = f"file:{client_secret_file.expanduser().resolve()}"
            else:
                env = await service.resolve_environment(environment)
                name = f"client-secret:{env.name}:{client_id}".replace(":", "/")
                assert stdin_secret is not None
                await service.set_secret(name, stdin_secret)
                ref = f"keyring:{name}"
            return await service.login_workload(environment, client_id=client_id, client_secret_ref=ref,
                                                scopes=scopes)
        if subject_token_file:
            return await service.login_workload(environment, subject=SubjectTokenSource(
                str(subject_token_file), subject_token_type))  # type: ignore[arg-type]
        return await service.login(environment, on_prompt=prompt,  # stderr, also under --json
                                   method=method,  # type: ignore[arg-type]
                                   open_browser=print_url if no_browser else None, force=force,
                                   timeout=timeout)

    from ..identity.models import SessionInfo

    info = run(config_file, body)
    assert isinstance(info, SessionInfo)
    if as_json:
        emit_json("session", {"session": info.to_json()})
        return
    from ..jose import humanize_seconds

    left = humanize_seconds(max(0, info.expires_at - time.time()))
    what = {"user": "", "client_credentials": " (client credentials)", "subject_token": " (subject token file)"}
    if info.kind == "client_credentials":
        echo(f"Signed in to {info.environment} as {info.subject}{what[info.kind]}; tokens are renewed "
             "with the client's credentials (the secret stays in the keyring or its file)")
        return
    echo(f"Signed in to {info.environment} as {info.subject}{what[info.kind]}; the session expires "
         f"in {left}" + ("; it refreshes silently" if info.refreshable else ""))


@click.command()
@env_option
@config_option
@json_option
def logout(environment: str | None, config_file: Path | None, as_json: bool) -> None:
    """Sign out: revoke the session at the identity provider where it offers revocation, and
    remove the session and exchanged tokens here (also when the identity provider cannot be
    reached; a running editor daemon notices within seconds)."""
    from ..identity.service import IdentityService

    async def body(service: IdentityService) -> object:
        return await service.logout(environment)

    status = run(config_file, body)
    from ..identity.models import IdentityStatus

    assert isinstance(status, IdentityStatus)
    if as_json:
        emit_json("identity_status", status.to_json())
        return
    if status.revocation == "failed":
        echo(f"Signed out of {status.environment} on this machine only")
        stderr(f"warning: the identity provider could not be told to revoke the session "
               f"({status.revocation_error}); the session and its tokens are deleted here, and its "
               "refresh token lapses at the identity provider when it expires")
        return
    if status.revocation == "revoked":
        echo(f"Signed out of {status.environment}; the session was revoked at the identity provider")
        return
    echo(f"Signed out of {status.environment}")
