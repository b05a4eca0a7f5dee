"""Entry point of ``microstax``. Subcommands live one per module and are imported lazily, so
``microstax identity verify`` does not pay for the platform server or the language server."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .. import __version__
from .errors import CLIError, remember_json, remember_root, translate

#: group path -> {command name: "module:attribute"}. Add a line here for a new subcommand.
COMMANDS: dict[str, dict[str, str]] = {
    "": {
        "identity": "microstax.cli.main:identity",
        "token": "microstax.cli.main:token",
        "keys": "microstax.cli.main:keys",
        "platform": "microstax.cli.main:platform",
        "daemon": "microstax.cli.daemon:daemon",
        "login": "microstax.cli.login:login",
        "logout": "microstax.cli.login:logout",
        "env": "microstax.cli.envs:env",
        "cluster": "microstax.cli.clusters:cluster",
        "config": "microstax.cli.config_cmd:config",
        "kube": "microstax.cli.main:kube",
        "verifier": "microstax.cli.verifier:verifier",
    },
    "identity": {
        "verify": "microstax.cli.verify:verify",
        "controller": "microstax.cli.controller:controller",
        "federate": "microstax.cli.federate:federate",
        "status": "microstax.cli.status:status",
    },
    "token": {
        "decode": "microstax.cli.decode:decode",
        "mint": "microstax.cli.mint:mint",
    },
    "keys": {
        "generate": "microstax.cli.keygen:generate",
    },
    "kube": {
        "credential": "microstax.cli.kube:credential",
        "config": "microstax.cli.kube:config",
    },
    "platform": {
        "serve": "microstax.cli.platform_serve:serve",
        "init": "microstax.cli.platform_init:init",
        "rotate-keys": "microstax.cli.platform_keys:rotate_keys",
        "show-config": "microstax.cli.platform_config:show_config",
        "hash-secret": "microstax.cli.platform_config:hash_secret",
        "kube-authn": "microstax.cli.platform_kube:kube_authn",
        # its sibling: the webhook kubeconfig (the verifier checks both signatures)
        "kube-webhook": "microstax.cli.verifier:kube_webhook_config",
    },
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked (or listed in --help)."""

    def __init__(self, *args: Any, path: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = path

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS.get(self.path, {}))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(self.path, {}).get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, path="", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="microstax")
@click.option("--debug", is_flag=True, help="Log details to stderr (tokens are never logged).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """MicroStax Identity: short-lived, hybrid-signed tokens for calls across clusters."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.meta["debug"] = debug
    remember_root(ctx)


@cli.group(cls=LazyGroup, path="identity")
def identity() -> None:
    """Who you are, and tokens for other clusters."""


@cli.group(cls=LazyGroup, path="token")
def token() -> None:
    """Look inside tokens; mint dev tokens."""


@cli.group(cls=LazyGroup, path="keys")
def keys() -> None:
    """Signing keys (for the platform and for dev tokens)."""


@cli.group(cls=LazyGroup, path="kube")
def kube() -> None:
    """kubectl with federated tokens: kubeconfig contexts and the credential plugin."""


@cli.group(cls=LazyGroup, path="platform")
def platform() -> None:
    """Run the reference identity layer."""


def _usage_hint(exc: click.ClickException) -> str | None:
    ctx = getattr(exc, "ctx", None)
    return f"see '{ctx.command_path} --help'" if ctx is not None else None


def main(argv: list[str] | None = None) -> int:
    try:
        # Without standalone mode click *returns* the code of a ctx.exit()/Exit(n) raised by
        # a command (e.g. 1 for an invalid token) instead of raising it.
        result = cli.main(args=argv, prog_name="microstax", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except click.ClickException as exc:  # click's usage errors: JSON too under --json
        args = sys.argv[1:] if argv is None else argv
        if "--json" in args[: args.index("--") if "--" in args else None]:
            remember_json()  # the parser failed before the --json callback could run
        error = CLIError(exc.format_message(), exit_code=exc.exit_code, code="usage",
                         hint=_usage_hint(exc))
        error.show()
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one translation boundary for lower-layer errors
        error = translate(exc)
        error.show()
        return error.exit_code
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
