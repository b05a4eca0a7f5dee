"""The hover card: compact Markdown for one token, and the protocol's ``TokenSummary``.

Every value that comes from the token is untrusted text (anyone can paste a token whose
subject is Markdown or HTML): it is shortened, kept on one line and shown as inline code,
never as Markdown. The card never says a token is valid unless its signatures were checked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..jose import DEFAULT_HEADER_BUDGET, TokenDescription, Verdict, relative
from ..jose.describe import actor_chain

_KIND_LABEL = {
    "user": "user",
    "service": "service",
    "spiffe": "SPIFFE ID",
    "jwt-svid": "JWT-SVID",
    "kubernetes": "Kubernetes service account",
    "unknown": "unknown kind",
}
_MAX_VALUE = 120
_MAX_LIST = 8
_BACKTICKS = re.compile(r"`+")
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|<>~]")


def _unsafe(text: str) -> str:
    """Control, format (bidi overrides, zero-width) and separator characters made visible as
    ``\\uXXXX``: they could reorder or hide what the card shows."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def code(value: Any, limit: int = _MAX_VALUE) -> str:
    """``value`` as Markdown inline code: one line, shortened, backticks fenced safely."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text.isprintable() or "  " in text:
        text = _unsafe(" ".join(text.split()))
    if not text:
        return "`(empty)`"
    longest = max(map(len, _BACKTICKS.findall(text)), default=0) if "`" in text else 0
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _codes(values: list[str]) -> str:
    shown = " ".join(code(v, 60) for v in values[:_MAX_LIST])
    return shown + (f" (+{len(values) - _MAX_LIST} more)" if len(values) > _MAX_LIST else "")


def _when(ts: float | None, now: float) -> str | None:
    if ts is None:
        return None
    try:
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return code(ts)
    return f"{stamp} ({relative(ts, now)})"


def _classical_text(verdict: Verdict, alg: Any) -> str:
    state = verdict.classical
    label = f"Classical ({code(alg, 20)})" if alg else "Classical"
    return f"{label}: {_state_text(state)}"


def _state_text(state: str) -> str:
    return {
        "verified": "✓ verified",
        "invalid": "✗ invalid",
        "unverifiable": "? unverifiable offline",
        "not_checked": "not checked",
        "missing": "✗ missing (the issuer signs hybrid: a stripped token?)",
        "absent": "— none (the issuer does not sign hybrid)",
    }.get(state, code(state, 30))


def verdict_line(verdict: Verdict) -> str:
    """One line saying whether the token is valid, and why not."""
    why = f": {verdict.message}" if verdict.message else ""
    if verdict.valid:
        return "**Valid**: signatures verified, claims in date"
    if verdict.classical == "unverifiable" or verdict.reason == "unverifiable":
        return f"**Unverifiable offline**{why}"
    if verdict.classical == "not_checked" and verdict.pq == "not_checked":
        return f"**Not verified**{why}"
    return f"**Not valid**{why}"


def verdict_badge(verdict: Verdict) -> str:
    """The verdict in one or two words, for the first line of a card."""
    if verdict.valid:
        return "✓ **Valid**"
    if verdict.classical == "unverifiable" or verdict.reason == "unverifiable":
        return "? **Unverifiable offline**"
    if verdict.classical == "not_checked" and verdict.pq == "not_checked":
        return "**Not verified**"
    return "✗ **Not valid**"


def _md_text(text: str) -> str:
    """Our own message (which may quote the token) as inert Markdown text."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), _unsafe(text))


def render_malformed(message: str, size_bytes: int) -> str:
    """The card for a JWT-shaped run that is not a well-formed token: what is wrong, first."""
    return "\n".join([
        "✗ **Malformed JWT** · not a well-formed compact JWS",
        "",
        f"**What is wrong**: {_md_text(message)}",
        "",
        f"{size_bytes:,} bytes. It cannot be decoded or verified; copy the whole token again "
        "(a token cut short, or changed by hand, looks like this).",
    ])


def render_card(desc: TokenDescription, *, note: str | None = None) -> str:
    """The hover card for a described token (``desc.verdict`` says what was checked)."""
    now = desc.now
    kind, detail = desc.identity
    verdict = desc.verdict
    title = f"**JWT** · {_KIND_LABEL.get(kind, kind)} {code(desc.subject, 80)} · {desc.expires_in}"
    # The verdict first: a badge on the title line, then why, then the details.
    lines = [f"{verdict_badge(verdict)} · {title}", "", verdict_line(verdict), ""]
    rows: list[tuple[str, str]] = []
    if detail:
        rows.append(("Identity", ", ".join(f"{k} {code(v, 60)}" for k, v in list(detail.items())[:6])))
    rows.append(("Issuer", code(desc.issuer) if desc.issuer else "(none)"))
    rows.append(("Audience", _codes(desc.audience) if desc.audience else "(none)"))
    if desc.scopes:
        rows.append(("Scopes", _codes(desc.scopes)))
    client_id = desc.claims.get("client_id") or desc.claims.get("azp")
    if client_id:
        rows.append(("Client", code(client_id, 80)))
    actors = actor_chain(desc.claims)
    if actors:
        rows.append(("Acting", " → ".join(code(a, 60) for a in actors[:_MAX_LIST]) + " (current actor first)"))
    for label, ts in (("Issued", desc.issued_at), ("Not before", desc.not_before), ("Expires", desc.expires_at)):
        text = _when(ts, now)
        if text and not (label == "Not before" and ts == desc.issued_at):
            rows.append((label, text))
    sigs = desc.signatures
    rows.append(("Signature", _classical_text(verdict, sigs["classical"].get("alg"))))
    pq = sigs.get("pq")
    pq_alg = pq.get("alg") if isinstance(pq, dict) else None
    pq_label = f"Post-quantum ({code(pq_alg, 20)})" if pq_alg else "Post-quantum"
    pq_state = verdict.pq if (pq or verdict.pq != "not_checked") else "absent"
    rows.append(("", f"{pq_label}: {_state_text(pq_state)}"))
    budget = desc.header_budget or DEFAULT_HEADER_BUDGET
    size = f"{desc.size_bytes:,} bytes of the {budget // 1024} KiB header budget"
    if desc.size_warning:
        size += " ⚠ over budget with `Authorization: Bearer `"
    rows.append(("Size", size))
    lines.append("| | |")
    lines.append("|---|---|")
    lines.extend(f"| {label} | {value} |" for label, value in rows)
    if note:
        lines.append("")
        lines.append(f"_{note}_")
    return "\n".join(lines)


def summary(desc: TokenDescription) -> dict[str, Any]:
    """The protocol's ``TokenSummary``: optional members left out when unknown, ``reason`` in
    words (the machine code of jose's verdict is ``reasonCode``)."""
    raw = desc.to_summary()
    verdict = desc.verdict
    out = {k: v for k, v in raw.items() if v is not None}
    if out.get("issuer") is None:
        out["issuer"] = ""
    sigs = out.get("signatures", {})
    out["signatures"] = {name: {k: v for k, v in sig.items() if v is not None}
                         for name, sig in sigs.items() if isinstance(sig, dict)}
    verdict_out: dict[str, Any] = {"classical": verdict.classical, "pq": verdict.pq}
    if verdict.message or verdict.reason:
        verdict_out["reason"] = verdict.message or verdict.reason
    if verdict.reason:
        verdict_out["reasonCode"] = verdict.reason
    out["verdict"] = verdict_out
    return out
