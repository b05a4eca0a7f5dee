"""Human and JSON output. JSON is a versioned envelope: ``{"v": 1, "kind": …, …}``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

JSON_VERSION = 1


def emit_json(kind: str, data: dict[str, Any], *, stream: Any = None) -> None:
    doc = {"v": JSON_VERSION, "kind": kind, **data}
    (stream or sys.stdout).write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


def emit_error_json(code: str, message: str, hint: str | None = None, **extra: Any) -> None:
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    error.update(extra)
    emit_json("error", {"error": error})


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(f"warning: {text}\n")


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta["json"] = True
    return value


#: ``--json`` for any command: a JSON document on stdout, errors (usage ones too) included.
#: Eager, so it is in force before the command's other options are checked.
json_option = click.option(
    "--json", "as_json", is_flag=True, is_eager=True, callback=_set_json,
    help="Print a versioned JSON document (errors too) instead of text.")
