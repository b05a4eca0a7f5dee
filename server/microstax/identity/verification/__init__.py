"""The one verification policy: which issuers, which keys, is the PQ part required, which
audience, which ``typ``, how much clock skew, how long keys and verdicts are trusted.

The CLI (``identity verify``), the daemon (hovers and ``microstax.verify``), the identity
service (federate, sign-in), the controller and the receivers (``microstax verifier serve``,
the ASGI middleware) all verify through this package; nothing else builds a ``jose.Policy``
or decides whether an issuer signs hybrid. Import from the package; its modules are:

``policy``    ``TrustedIssuer``, ``VerificationPolicy`` (from config tables too)
``keys``      ``KeyMaterial``, ``decide_hybrid`` (THE hybrid answer), JWKS files, ``token_kids``
``verdict``   ``Verification``, ``evaluate`` (pure: no I/O), ``VerdictCache``
``verifier``  ``Verifier`` (async) and ``SyncVerifier`` (blocking) over one shared body
``errors``    the exceptions below

Layers used: ``jose`` (the checks), ``oauth.hybrid`` (what the metadata says), and — imported
only when a verifier first has to fetch something — ``oauth.jwks`` (discovery, JWKS caching
by ``Cache-Control``, one rate-limited refetch on an unknown ``kid``, stale-on-error) over
httpx. Offline verification (JWKS files) never imports the HTTP stack.

Keys of an issuer (``KeyMaterial``) are the classical set of its ``jwks_uri`` plus the
post-quantum set of its ``microstax_pq_jwks_uri``; an older issuer may publish both kinds in
one mixed ``jwks_uri`` set, which works the same. The PQ part of a token is required
(``hybrid_required``) by the issuer's ``TrustedIssuer.hybrid`` mode:

``auto``            when the metadata advertises ``microstax_hybrid_signing.required`` or the
                    keys include a PQ key (downgrade protection: a stripped token is rejected)
``required``        always
``classical-only``  never, and the PQ keys are not used: only when a config says so explicitly

Results are ``Verification`` objects (valid, machine-readable ``reason``, human ``message``,
claims, header, per-signature ``SignatureCheck``s). Token problems never raise; only the keys
being unobtainable does (``KeysUnavailable``). Exceptions::

    VerificationError          .message, .hint
    ├── PolicyError            bad configuration (unknown member, unreadable JWKS file, …)
    └── KeysUnavailable        the issuer's metadata or keys cannot be had (.issuer, .kind, .cause)
"""

from __future__ import annotations

from .errors import KeysUnavailable, PolicyError, VerificationError
from .keys import KeyMaterial, decide_hybrid, load_jwks_file, material_from_keys, token_kids
from .policy import HYBRID_MODES, UNSET, HybridMode, TrustedIssuer, VerificationPolicy
from .verdict import REASONS, SignatureCheck, VerdictCache, Verification, evaluate, stable_until
from .verifier import SyncVerifier, Verifier

__all__ = [
    "HYBRID_MODES", "REASONS", "UNSET", "HybridMode", "KeyMaterial", "KeysUnavailable",
    "PolicyError", "SignatureCheck", "SyncVerifier", "TrustedIssuer", "VerdictCache",
    "Verification", "VerificationError", "VerificationPolicy", "Verifier", "decide_hybrid",
    "evaluate", "load_jwks_file", "material_from_keys", "stable_until", "token_kids",
]
