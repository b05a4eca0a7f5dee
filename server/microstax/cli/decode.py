"""``microstax token decode``: what a token says, WITHOUT checking its signatures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..jose import PQ_HEADER, describe, parse
from .output import echo, emit_json, json_option
from .present import clean_block, render_text
from .tokenio import read_token, token_options


def _elide_pq(header: dict[str, Any]) -> dict[str, Any]:
    """The header for display: the ~4.4 KB PQ signature shown as its size only."""
    part = header.get(PQ_HEADER)
    if not isinstance(part, dict) or not isinstance(part.get("signature"), str):
        return header
    shown = dict(part, signature=f"<{len(part['signature'])} base64url characters>")
    return dict(header, **{PQ_HEADER: shown})


@click.command()
@token_options
@json_option
def decode(token: str | None, token_file: Path | None, as_json: bool) -> None:
    """Show what a token claims. UNVERIFIED: the signatures are not checked.

    Pass the token on stdin with '-' or in a file with --token-file (an argument works but
    lands in your shell history). Use 'microstax identity verify' to check signatures.
    """
    parsed = parse(read_token(token, token_file))
    desc = describe(parsed)
    if as_json:
        emit_json("decoded", {
            "verified": False,
            "summary": desc.to_summary(),
            "header": parsed.header,
            "claims": parsed.claims,
        })
        return
    echo(render_text(desc))
    echo("header:")
    echo(clean_block(json.dumps(_elide_pq(parsed.header), indent=2, ensure_ascii=False)))
    echo("claims:")
    echo(clean_block(json.dumps(parsed.claims, indent=2, ensure_ascii=False)))
