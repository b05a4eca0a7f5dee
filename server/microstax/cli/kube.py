"""``microstax kube credential`` (kubectl's exec credential plugin) and ``microstax kube config``
(kubeconfig contexts for the catalog's clusters). The use cases live in
``identity.kubecredential`` and ``identity.kubeconfig``; these commands only wire them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .client_common import config_option, env_option, stderr
from .output import echo, emit_json, json_option


@click.command("credential")
@click.option("--target", "-t", required=True, metavar="CLUSTER", help="The cluster kubectl talks to.")
@click.option("--service", "-s", default="default", show_default=True, help="The service to act as.")
@env_option
@config_option
def credential(target: str, service: str, environment: str | None, config_file: Path | None) -> None:
    """Print an ExecCredential (client.authentication.k8s.io/v1) for kubectl.

    From the token cache when a fresh token is there (no network); else federated like
    'identity federate'. Signs in only when kubectl runs the plugin interactively; a
    signed-out user gets a message on stderr and exit code 3.
    """
    from ..identity.kubecredential import (
        CredentialInput,
        get_credential,
        interactive_from_exec_info,
    )

    request = CredentialInput(target=target, service=service, environment=environment,
                              config_file=str(config_file) if config_file else None,
                              interactive=interactive_from_exec_info())
    doc = get_credential(request, on_prompt=_prompt)
    sys.stdout.write(json.dumps(doc) + "\n")


def _prompt(p: object) -> None:
    import time

    from ..identity.models import DevicePrompt

    assert isinstance(p, DevicePrompt)
    if p.kind == "device":
        stderr(f"To sign in to {p.environment}, open {p.verification_uri} and enter the code "
               f"{p.user_code} (valid for {max(0, int(p.expires_at - time.time())) // 60} min).")
    else:
        stderr(f"Sign in to {p.environment} in your browser: {p.verification_uri}")
    stderr("Waiting for the approval…")


@click.command("config")
@click.option("--target", "-t", default="all", show_default=True, metavar="CLUSTER|all",
              help="One cluster, a comma-separated list, or all the catalog's clusters.")
@click.option("--service", "-s", default="default", show_default=True, help="The service to act as.")
@env_option
@config_option
@click.option("--kubeconfig", "kubeconfig", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to merge into (default: the first of $KUBECONFIG, else ~/.kube/config).")
@click.option("--dry-run", is_flag=True, help="Print the merged kubeconfig instead of writing it.")
@json_option
def config(target: str, service: str, environment: str | None, config_file: Path | None,
           kubeconfig: Path | None, dry_run: bool, as_json: bool) -> None:
    """Write kubeconfig contexts for catalog clusters, with this CLI as the credential plugin.

    \b
    microstax kube config --target stx-eu-west-cluster
    kubectl --context microstax-dev-stx-eu-west-cluster auth whoami
    """
    from ..identity.kubeconfig import KubeConfigInput, default_kubeconfig_path, kube_config, render
    from .client_common import run

    path = kubeconfig or default_kubeconfig_path()
    request = KubeConfigInput(target=target, environment=environment, service=service,
                              config_file=str(config_file) if config_file else None)
    result = run(config_file, lambda svc: kube_config(svc, request, path, dry_run=dry_run))
    for name, reason in result.skipped:
        stderr(f"skipped {name}: {reason}")
    if as_json:
        emit_json("kube-config", {"path": str(result.path), "dryRun": dry_run,
                                  "contexts": list(result.written),
                                  "skipped": [{"cluster": n, "reason": r} for n, r in result.skipped],
                                  **({"kubeconfig": result.document} if dry_run else {})})
        return
    if dry_run:
        sys.stdout.write(render(result.document))
        return
    for name in result.written:
        echo(f"context {name} -> {path}")
