"""``microstax identity status``: who you are in an environment, until when, and the token of
every cluster (exchanged with its remaining lifetime, not exchanged, or failed and why).

Exit codes: 0 signed in, 3 not signed in (the status is printed either way).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from . import exit_codes
from .client_common import config_option, env_option, left, run, table, token_cell
from .output import echo, emit_json, json_option, warn


@click.command()
@env_option
@config_option
@click.option("--refresh", is_flag=True, help="Re-read the platform catalog now.")
@json_option
def status(environment: str | None, config_file: Path | None, refresh: bool, as_json: bool) -> None:
    """Show the current identity and every exchanged token per cluster."""
    from ..identity.models import IdentityStatus
    from ..identity.service import IdentityService

    async def body(service: IdentityService) -> IdentityStatus:
        return await service.status(environment, refresh_catalog=refresh)

    st = run(config_file, body)
    now = time.time()
    if as_json:
        emit_json("identity_status", st.to_json(now))
    else:
        session = st.session
        if st.signed_in and session is not None:
            echo(f"{st.environment}: signed in as {session.subject} ({session.kind}), issuer {session.issuer}, "
                 f"session {left(session.expires_at - now)}")
        else:
            echo(f"{st.environment}: signed out (run 'microstax login --env {st.environment}')")
        if st.catalog_error:
            warn(st.catalog_error)
        rows = [[c.name, c.cluster.region or "-", c.cluster.status, token_cell(c, now)] for c in st.clusters]
        if rows:
            echo(table(rows, ["CLUSTER", "REGION", "STATUS", "TOKEN"]))
        echo(st.summary)
    if not st.signed_in:
        raise click.exceptions.Exit(exit_codes.NOT_SIGNED_IN)
