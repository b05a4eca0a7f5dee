"""The token commands: ``microstax.decode`` and ``microstax.verify`` (no LSP in here)."""

from __future__ import annotations

import logging
from typing import Any

from ..identity.verification import KeysUnavailable, evaluate, token_kids
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
                 audience: str | None = None, now: float | None = None) -> dict[str, Any]:
    """``{v, valid, reason?, summary, markdown}``: the token checked against its issuer's keys
    (``issuer`` when given, else the token's own ``iss``), fetched now if not cached."""
    parsed = _parse(token)
    _, early = precheck(parsed, Policy(typ=None))
    if early is not None:  # refused on its shape alone: no key is fetched for it
        return _answer(parsed, Verdict(False, "not_checked", "not_checked" if PQ_HEADER in parsed.header
                                       else "absent", early.reason, early.message), now)
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


def _answer(parsed: Any, verdict: Verdict, now: float | None) -> dict[str, Any]:
    desc = describe(parsed, verdict=verdict, now=now)
    result: dict[str, Any] = {"v": VERSION, "valid": verdict.valid, "summary": summary(desc),
                              "markdown": render_card(desc)}
    if not verdict.valid:
        result["reason"] = verdict.message or verdict.reason or "not valid"
    return result
