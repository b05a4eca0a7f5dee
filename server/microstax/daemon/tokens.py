"""The token commands: ``microstax.decode`` and ``microstax.verify`` (no LSP in here)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from ..identity.verification import (
    KeyMaterial,
    KeysUnavailable,
    PolicyError,
    evaluate,
    load_jwks_file,
    material_from_keys,
    token_kids,
)
from ..jose import PQ_HEADER, JoseError, MalformedToken, Policy, Verdict, describe, parse, precheck
from ..oauth.exceptions import OAuthError
from .errors import UserError
from .hovercard import render_card, summary
from .verifycache import IssuerKeys

log = logging.getLogger(__name__)
VERSION = 1


def _parse(token: str) -> Any:
    try:
        return parse(token)
    except MalformedToken as exc:
        raise UserError("INVALID_TOKEN", f"this is not a well-formed JWT: {exc.message}") from exc


def decode(token: str, *, now: float | None = None) -> dict[str, Any]:
    """``{v, summary, markdown}``: what the token says, never verified."""
    desc = describe(_parse(token), now=now)
    return {"v": VERSION, "summary": summary(desc),
            "markdown": render_card(desc, note="Decoded only: the signatures were not checked.")}


async def verify(token: str, keys: IssuerKeys, *, issuer: str | None = None,
                 audience: str | None = None, jwks: str | None = None,
                 now: float | None = None) -> dict[str, Any]:
    """``{v, valid, reason?, summary, markdown}``: the token checked against its issuer's keys
    (``issuer`` when given, else the token's own ``iss``), fetched now if not cached; or,
    with ``jwks`` (an absolute path), against the key set in that file, offline (``iss`` is
    then checked only when ``issuer`` is given)."""
    parsed = _parse(token)
    if jwks is not None and not os.path.isabs(jwks):
        raise UserError("BAD_REQUEST", f"'jwks' must be an absolute path, not {jwks!r}")
    _, early = precheck(parsed, Policy(typ=None))
    if early is not None:  # refused on its shape alone: no key is fetched for it
        return _answer(parsed, Verdict(False, "not_checked", "not_checked" if PQ_HEADER in parsed.header
                                       else "absent", early.reason, early.message), now)
    if jwks is not None:
        material = await asyncio.to_thread(_file_keys, jwks, issuer or parsed.claims.get("iss"))
        verdict = evaluate(parsed, material, issuer=issuer, audiences=(audience,) if audience else (),
                           typ=None, now=now).verdict
        return _answer(parsed, verdict, now)
    iss = issuer or parsed.claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise UserError("INVALID_TOKEN", "the token names no issuer ('iss'); pass the issuer to verify it against")
    try:
        material = await keys.material(iss, kids=token_kids(parsed))
    except TimeoutError as exc:
        raise UserError("IDP_UNAVAILABLE", f"the keys of {iss} did not arrive within {keys.bound:g}s") from exc
    except JoseError as exc:
        raise UserError("IDP_UNAVAILABLE", f"the keys of {iss} are not usable: {exc.message}") from exc
    except (KeysUnavailable, OAuthError) as exc:
        raise UserError("IDP_UNAVAILABLE", f"could not get the keys of {iss}: {exc.message}"
                        + (f" ({exc.hint})" if exc.hint else "")) from exc
    # any typ: foreign IdPs send 'JWT'; the PQ part is required as the one policy decides
    verdict = evaluate(parsed, material, issuer=iss, audiences=(audience,) if audience else (),
                       typ=None, now=now).verdict
    return _answer(parsed, verdict, now)


def _file_keys(path: str, issuer: Any) -> KeyMaterial:
    """The keys of the JWKS file ``path`` (read bounded by ``load_jwks_file``), or
    ``JWKS_FILE_INVALID``: missing, unreadable, a FIFO or folder, too big, not JSON, no key set."""
    try:
        keys = load_jwks_file(path)
    except PolicyError as exc:
        raise UserError("JWKS_FILE_INVALID", exc.message, action="showLogs",
                        hint="pick a JSON Web Key Set file (a JSON object with \"keys\"), e.g. "
                             "what the issuer's jwks_uri serves or the jwks.json of microstax keygen",
                        path=path) from exc
    name = issuer if isinstance(issuer, str) and issuer else f"(keys of {path})"
    return material_from_keys(name, keys, source="file", jwks_uris=(path,))


def _answer(parsed: Any, verdict: Verdict, now: float | None) -> dict[str, Any]:
    desc = describe(parsed, verdict=verdict, now=now)
    result: dict[str, Any] = {"v": VERSION, "valid": verdict.valid, "summary": summary(desc),
                              "markdown": render_card(desc)}
    if not verdict.valid:
        result["reason"] = verdict.message or verdict.reason or "not valid"
    return result
