"""How a token description reads to people in a terminal (the editor's hover card is
daemon/hovercard.py).

Pure functions of a ``jose.TokenDescription``. Every value that comes from the token is
untrusted text: control and bidi characters are escaped (no terminal escape sequences, no
reordered lines) and long values are cut.

A description reads VALID only when its verdict comes from a real verification; a decode
reads UNVERIFIED.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from ..jose import TokenDescription, relative
from ..jose.describe import actor_chain

MAX_VALUE_CHARS = 160
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def clean(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Untrusted token text made safe to print: escaped controls, bounded length."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    out = []
    for ch in text:
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def clean_block(text: str, line_limit: int = 400) -> str:
    """``clean`` for multi-line text (pretty-printed JSON): each line on its own."""
    return "\n".join(clean(line, line_limit) for line in text.split("\n"))


# -- the parts of the rendering --------------------------------------------------------------
def status(desc: TokenDescription) -> tuple[str, str]:
    """(word, explanation): VALID / INVALID / UNVERIFIED and why."""
    verdict = desc.verdict
    if verdict.classical == "not_checked" and verdict.pq == "not_checked" and not verdict.reason:
        return "UNVERIFIED", "decoded only; the signatures were not checked"
    if verdict.valid:
        if verdict.pq == "verified":
            return "VALID", "classical and post-quantum signatures verify"
        return "VALID", f"classical signature verifies; post-quantum: {verdict.pq}"
    return "INVALID", f"{verdict.reason}: {verdict.message or verdict.reason}"


def identity_text(desc: TokenDescription) -> str:
    kind, detail = desc.identity
    if kind == "jwt-svid":
        return (f"JWT-SVID (SPIFFE ID in trust domain {clean(detail.get('trustDomain', ''))}, "
                f"path {clean(detail.get('path', ''))})")
    if kind == "spiffe":
        return (f"SPIFFE ID (trust domain {clean(detail.get('trustDomain', ''))}, "
                f"path {clean(detail.get('path', ''))})")
    if kind == "kubernetes":
        text = f"Kubernetes service account {clean(detail.get('namespace', '?'))}/" \
               f"{clean(detail.get('serviceAccount', '?'))}"
        if detail.get("pod"):
            text += f" (pod {clean(detail['pod'])})"
        return text
    if kind == "service":
        return f"service (client {clean(detail.get('clientId', '?'))})"
    if kind == "user":
        name = detail.get("preferred_username") or detail.get("email") or detail.get("name")
        return f"user ({clean(name)})" if name else "user"
    return "unknown"


def _time_line(desc: TokenDescription, when: float | None, iso: str | None) -> str | None:
    if when is None:
        return None
    return f"{iso or when} ({relative(when, desc.now)})"


def _signature_lines(desc: TokenDescription) -> list[tuple[str, str]]:
    sigs = desc.signatures
    verdict = desc.verdict
    lines = []
    classical = sigs.get("classical") or {}
    lines.append(("classical", f"{clean(classical.get('alg'), 20)}"
                  f"{' kid ' + clean(classical.get('kid'), 48) if classical.get('kid') else ''}"
                  f": {verdict.classical}"))
    pq = sigs.get("pq")
    if pq:
        lines.append(("post-quantum", f"{clean(pq.get('alg'), 20)}"
                      f"{' kid ' + clean(pq.get('kid'), 48) if pq.get('kid') else ''}"
                      f": {verdict.pq}"))
    else:
        lines.append(("post-quantum", f"none in the token: {verdict.pq}"))
    return lines


def rows(desc: TokenDescription) -> list[tuple[str, str]]:
    """The labelled facts of a description, in display order, already cleaned."""
    summary = desc.to_summary()
    out: list[tuple[str, str]] = [
        ("subject", clean(desc.subject)),
        ("identity", identity_text(desc)),
        ("issuer", clean(desc.issuer) if desc.issuer else "(none)"),
        ("audience", ", ".join(clean(a) for a in desc.audience) or "(none)"),
    ]
    if desc.scopes:
        out.append(("scopes", clean(" ".join(desc.scopes), 400)))
    actors = actor_chain(desc.claims)
    if actors:
        out.append(("actors", ", ".join(clean(a, 80) for a in actors)
                    + (" (current actor first)" if len(actors) > 1 else "")))
    if summary["clientId"]:
        out.append(("client", clean(summary["clientId"])))
    for label, when, iso in (("issued", desc.issued_at, summary["issuedAt"]),
                             ("not before", desc.not_before, summary["notBefore"])):
        line = _time_line(desc, when, iso)
        if line and (label != "not before" or desc.not_before != desc.issued_at):
            out.append((label, line))
    exp = desc.expires_at
    out.append(("expires", f"{summary['expiresAt'] or exp} ({desc.expires_in})" if exp is not None
                else desc.expires_in))
    out.extend(_signature_lines(desc))
    size = f"{desc.size_bytes} bytes"
    out.append(("size", size))
    return out


# -- renderings ------------------------------------------------------------------------------------
def render_text(desc: TokenDescription) -> str:
    """A terminal summary: a status line, aligned facts, then any warning."""
    word, why = status(desc)
    lines = [f"{word}: {clean(why, 300)}"]
    facts = rows(desc)
    width = max(len(label) for label, _ in facts)
    lines.extend(f"  {label:<{width}}  {value}" for label, value in facts)
    if desc.size_warning:
        lines.append(f"warning: {desc.size_warning}")
    return "\n".join(lines)
