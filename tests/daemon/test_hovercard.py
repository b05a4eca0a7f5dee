"""hovercard.py: what the card says for each identity kind and verdict; untrusted text stays inert."""

from __future__ import annotations

import time

from tests.daemon.tokenfactory import claims_for, mint, signer

from microstax.daemon.hovercard import code, render_card, summary
from microstax.jose import Verdict, describe, sign


def test_kinds():
    expect = {"user": "user `dev`", "service": "service `svc-payments`",
              "spiffe": "SPIFFE ID `spiffe://dev.microstax.local/env/dev/svc/payments`",
              "kubernetes": "Kubernetes service account `system:serviceaccount:payments:api`"}
    for kind, title in expect.items():
        card = render_card(describe(mint(kind)))
        assert title in card.splitlines()[0], card
        assert "**Not verified**" in card
    k8s = render_card(describe(mint("kubernetes")))
    assert "namespace `payments`" in k8s and "serviceAccount `api`" in k8s and "pod `api-7d9f`" in k8s
    spiffe = render_card(describe(mint("spiffe")))
    assert "`dev` → `ci-bot`" in spiffe and "trustDomain `dev.microstax.local`" in spiffe


def test_verdicts():
    tok = mint("user")
    ok = render_card(describe(tok, verdict=Verdict(True, "verified", "verified")))
    assert "✓ verified" in ok and "**Valid**" in ok
    bad = render_card(describe(tok, verdict=Verdict(False, "invalid", "verified", "bad_signature",
                                                    "the classical signature does not verify")))
    assert "✗ invalid" in bad and "**Not valid**: the classical signature does not verify" in bad
    offline = render_card(describe(tok, verdict=Verdict.unverifiable("issuer keys not cached yet; refreshing")))
    assert "? unverifiable offline" in offline and "refreshing" in offline


def test_expired_and_size_warning():
    now = time.time()
    card = render_card(describe(mint("user", now=now - 7200, lifetime=60), now=now))
    assert "expired 1h 59m ago" in card
    big = sign(claims_for("user", blob="x" * 3000), signer())
    card = render_card(describe(big))
    assert "over budget" in card


def test_untrusted_values_are_inert():
    evil = "x` [click](command:workbench.action.terminal.new) <img src=x>\n# heading `"
    card = render_card(describe(sign(claims_for("user", sub=evil, preferred_username=evil), signer())))
    line = next(ln for ln in card.splitlines() if "click" in ln)
    assert "``" in line  # fenced with a longer backtick run
    assert "\n# heading" not in card
    assert code("a`b") == "``a`b``" and code("`a") == "`` `a ``"
    assert len(code("y" * 1000)) < 130


def test_summary_shape():
    s = summary(describe(mint("spiffe"), verdict=Verdict(False, "invalid", "missing", "pq_missing", "stripped")))
    assert s["identityKind"] == "spiffe" and s["actors"] == ["dev", "ci-bot"]
    assert s["verdict"] == {"classical": "invalid", "pq": "missing", "reason": "stripped", "reasonCode": "pq_missing"}
    assert None not in s.values()


def test_the_verdict_comes_first():
    tok = mint("user")
    ok = render_card(describe(tok, verdict=Verdict(True, "verified", "verified"))).splitlines()
    assert ok[0].startswith("✓ **Valid** · **JWT**") and ok[2].startswith("**Valid**")
    bad = render_card(describe(tok, verdict=Verdict(False, "invalid", "verified", "bad_signature", "nope")))
    assert bad.splitlines()[0].startswith("✗ **Not valid**") and bad.splitlines()[2] == "**Not valid**: nope"
    assert render_card(describe(tok)).splitlines()[0].startswith("**Not verified** · **JWT**")


def test_malformed_card_says_what_is_wrong_and_stays_inert():
    from microstax.daemon.hovercard import render_malformed

    card = render_malformed("duplicate JSON member '[x](command:evil)'", 99)
    assert card.splitlines()[0].startswith("✗ **Malformed JWT**")
    assert "duplicate JSON member" in card and "](command:" not in card and "99 bytes" in card
