"""``microstax identity federate``: a verified token scoped to a target cluster.

Default output is the token alone on stdout (``TOKEN=$(microstax identity federate …)``);
``--copy`` puts it on the clipboard and prints a summary instead; ``--json`` prints the
daemon-protocol shape. ``--target all`` (or ``a,b,c``) federates to many clusters at once:
one line ``<cluster> <token>`` per success, failures on stderr, exit 8 when some failed.

Exit codes: 0 ok, 3 not signed in, 4 denied, 5 IdP unavailable, 6 config (unknown cluster or
environment), 7 no keyring, 8 partial (fleet), 1 the IdP answered a token that fails
verification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import exit_codes
from .client_common import config_option, env_option, run, stderr
from .errors import CLIError, translate
from .output import echo, emit_json, json_option, warn


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


@click.command()
@click.option("--target", "-t", required=True, metavar="CLUSTER",
              help="The target cluster; 'all' or a comma-separated list for many.")
@click.option("--service", "-s", default="default", show_default=True,
              help="The service identity to act as.")
@env_option
@config_option
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="Narrow the token to these scopes (repeatable, or space-separated).")
@click.option("--audience", metavar="AUD", help="Ask for this audience instead of the cluster's.")
@click.option("--copy", "copy", is_flag=True, help="Put the token on the clipboard; print a summary.")
@click.option("--force", is_flag=True, help="Exchange anew even when a cached token is fresh.")
@click.option("--subject-token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Exchange this JWT (a workload's own token) instead of the signed-in session.")
@click.option("--subject-token-type", type=click.Choice(["kubernetes", "spiffe", "jwt"]), default="jwt",
              show_default=True, help="What --subject-token-file holds.")
@json_option
def federate(target: str, service: str, environment: str | None, config_file: Path | None,
             scopes: tuple[str, ...], audience: str | None, copy: bool, force: bool,
             subject_token_file: Path | None, subject_token_type: str, as_json: bool) -> None:
    """Get a short-lived token for a target cluster, verified and cached.

    \b
    TOKEN=$(microstax identity federate --service default --target stx-eu-west-cluster)
    microstax identity federate -s payments -t stx-eu-west-cluster --copy
    microstax identity federate -t all --json
    """
    from ..identity.models import (
        FederatedToken,
        FederateOutcome,
        FederateRequest,
        SubjectTokenSource,
    )
    from ..identity.service import IdentityService

    words = tuple(w for s in scopes for w in s.split())
    subject = (SubjectTokenSource(str(subject_token_file), subject_token_type)  # type: ignore[arg-type]
               if subject_token_file else None)
    request = FederateRequest(target=target, service=service, environment=environment, scopes=words,
                              audience=audience, subject=subject, force=force)
    many = target == "all" or "," in target
    if many and copy:
        raise CLIError("--copy takes one target", exit_code=exit_codes.USAGE, code="usage")

    async def body(svc: IdentityService) -> object:
        if many:
            return await svc.federate_many(request)
        return await svc.federate(request)

    result = run(config_file, body)
    if isinstance(result, FederatedToken):
        _one(result, copy=copy, as_json=as_json)
        return
    assert isinstance(result, list)
    outcomes: list[FederateOutcome] = result
    _many(outcomes, as_json=as_json)


def _warnings(tok: object) -> None:
    from ..identity.models import FederatedToken

    assert isinstance(tok, FederatedToken)
    budget = tok.header_budget()
    if budget["exceeds"]:
        warn(f"{tok.cluster.name}: the token is {_size(tok.size_bytes)}; with 'Authorization: Bearer ' "
             f"the header is {budget['bytes']} bytes, over the cluster's {budget['limit']}-byte budget "
             "(raise large_client_header_buffers on its ingress)")
    if tok.refresh_failure is not None:
        warn(f"{tok.cluster.name}: refreshing failed ({tok.refresh_failure.message}); this is the "
             f"previous token, valid for {int(tok.seconds_left)}s more")


def _one(tok: object, *, copy: bool, as_json: bool) -> None:
    from ..identity.models import FederatedToken
    from ..jose import humanize_seconds

    assert isinstance(tok, FederatedToken)
    _warnings(tok)
    if copy:
        from ..adapters.clipboard import copy as copy_text

        copy_text(tok.token, detach_stdio=True)
    if as_json:
        doc = tok.to_json()
        if copy:
            doc.pop("token")
            doc["copied"] = True
        emit_json("federation", doc)
        return
    if not copy:
        echo(tok.token)
        return
    scopes = " ".join(tok.description.scopes) or "-"
    echo(f"Copied a token for {tok.cluster.name} (service {tok.service}) to the clipboard")
    echo(f"  subject   {tok.description.subject}")
    echo(f"  audience  {', '.join(tok.description.audience)}")
    echo(f"  scopes    {scopes}")
    echo(f"  expires   in {humanize_seconds(max(0, tok.seconds_left))}"
         + (" (cached)" if tok.from_cache else ""))
    echo(f"  size      {_size(tok.size_bytes)} (header budget {tok.cluster.header_budget} B)")
    v = tok.description.verdict
    echo(f"  verified  classical {v.classical}, post-quantum {v.pq}")


def _many(outcomes: list[Any], *, as_json: bool) -> None:
    from ..identity.exceptions import IdentityError

    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    for o in ok:
        _warnings(o.result)
    if as_json:
        emit_json("federations", {"results": [o.to_json() for o in outcomes],
                                  "summary": f"{len(ok)} of {len(outcomes)} clusters federated"})
    else:
        for o in ok:
            echo(f"{o.target} {o.result.token}")
        for o in failed:
            err = o.error
            message = err.message if isinstance(err, IdentityError) else f"unexpected {type(err).__name__}"
            stderr(f"error: {message}")
            if isinstance(err, IdentityError) and err.hint:
                stderr(f"  hint: {err.hint}")
        stderr(f"{len(ok)} of {len(outcomes)} clusters federated")
    if failed and ok:
        raise click.exceptions.Exit(exit_codes.PARTIAL)
    if failed:
        first = failed[0].error
        code = translate(first).exit_code if first is not None else exit_codes.INTERNAL
        raise click.exceptions.Exit(code)
