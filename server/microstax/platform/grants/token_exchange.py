"""Token exchange (RFC 8693): federate for a service into one target cluster.

Mapping of ``microstax identity federate --service S --target T``:

* ``subject_token`` = the caller's token (a session token from the device flow, a workload
  token, or a token of a trusted upstream issuer), ``subject_token_type`` access_token or jwt;
* ``audience`` = ``T`` (exactly one cluster); ``resource`` = the SPIFFE ID of ``S``;
* issued ``sub`` = that SPIFFE ID, ``aud`` = ``T``, ``act`` = ``{"sub": <caller>}``, nested
  with the subject token's own ``act`` (and with an ``actor_token``'s subject on top);
* without ``resource`` the subject keeps its own identity: a workload narrowing its token,
  or an ``actor_token`` acting for it (delegation).

Narrowing: scopes are bounded by the policy rules matching (actor, service, cluster) and, for
a subject token already scoped to clusters, by its own ``scope`` and ``aud``. Asking for more
is ``invalid_scope`` / ``invalid_target``; nothing ever widens. A token's own claims never
grant anything: only a token this platform issued may be narrowed without a policy rule (its
scopes were granted here), and an upstream's subjects are principals of their own namespace
(``Upstream.principal``) that only policy rules can authorise.

Who may redeem a subject token (docs/platform-trust.md):

* a token this platform issued: the client it was issued to (``client_id``), the workload
  client whose identity is the token's ``sub`` (the token was federated *for* it), a client
  whose ``redeems_for`` names the issuing client, or, with an ``actor_token``, any client when
  the subject's ``may_act`` names that actor;
* an upstream's token: the clients its ``[[upstreams]] clients`` lists (default: any).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from microstax.jose import JoseError, KeySet, Policy, check, loads_json, precheck
from microstax.jose.compact import b64url_decode

from ..config import GRANT_TOKEN_EXCHANGE, Config
from ..errors import (
    OAuthError,
    invalid_grant,
    invalid_request,
    invalid_scope,
    invalid_target,
    unauthorized_client,
)
from ..revocation import is_revoked
from ..runtime import Issuer
from ..tls import read_ca_pem
from ..upstream import UpstreamUnavailable
from . import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT, Issued, TokenRequest, mint, scope_set

ACCEPTED_SUBJECT_TYPES = (TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT)
MAX_ACT_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Party:
    """A verified subject or actor token."""

    principal: str
    claims: dict[str, Any]
    issuer: str
    local: bool          # signed by this platform (central or a cluster issuer)
    session: bool        # a sign-in session (aud = the platform), bounded by policy
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    upstream: str | None = None  # connector id of a foreign upstream issuer


def _audiences(claims: dict[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str))
    return ()


async def verify_party(req: TokenRequest, token: str, what: str) -> Party:
    """Verify a subject or actor token against the issuers this endpoint trusts."""
    platform, issuer = req.platform, req.issuer
    config = platform.config
    parsed, early = precheck(token, Policy(typ=None, required_claims=("exp", "sub")))
    if parsed is None or early is not None:  # refused on its shape: no upstream key fetch
        reason = early.reason if early is not None else "malformed"
        raise invalid_grant(f"the {what} is {'malformed' if parsed is None else 'invalid'} ({reason})")
    iss = parsed.claims.get("iss")
    if not isinstance(iss, str):
        raise invalid_grant(f"the {what} has no issuer")
    connector = req.params.get("connector_id")
    connectors = platform.trusted_connectors(issuer)
    if connector is not None and connector not in connectors:
        raise invalid_request(f"unknown connector_id {connector!r} for this issuer")

    keys: KeySet
    local = False
    upstream = None
    if iss == issuer.url and connector is None:
        keys, local = issuer.keys(), True
    else:
        match = [(cid, up) for cid, up in connectors.items()
                 if up[0] == iss and (connector is None or cid == connector)]
        if not match:
            raise invalid_grant(f"the {what}'s issuer is not trusted here")
        cid, (_, jwks_uri) = match[0]
        if jwks_uri is None:
            keys, local = platform.central.keys(), True
        else:
            upstream = config.upstream(cid)
            if upstream is None:
                raise invalid_grant(f"the {what}'s issuer is not trusted here")
            kid = parsed.header.get("kid")
            ca_pem = None
            if upstream.ca_file:
                ca_pem = read_ca_pem(platform.data_dir, upstream.ca_file)
                if ca_pem is None:
                    raise OAuthError("temporarily_unavailable", f"the CA file of upstream {cid!r} is "
                                     "missing or not a PEM certificate", status=503)
            try:
                keys = await platform.upstream_keys.get(jwks_uri, kid=kid if isinstance(kid, str) else None,
                                                        ca_pem=ca_pem)
                if upstream.pq_jwks_uri is not None and upstream.hybrid != "classical-only":
                    pq_kid = _pq_kid(parsed.header)
                    keys = keys.union(await platform.upstream_keys.get(
                        upstream.pq_jwks_uri, kid=pq_kid, ca_pem=ca_pem))
            except UpstreamUnavailable as exc:
                raise OAuthError("temporarily_unavailable", exc.message, status=503) from exc
    require_pq = None if upstream is None else {"required": True, "classical-only": False}.get(upstream.hybrid)
    policy = Policy(issuer=iss, typ=("at+jwt",) if local else None, required_claims=("exp", "sub"),
                    require_pq=require_pq)
    verdict, _, error = check(parsed, keys, policy)
    if error is not None:
        raise invalid_grant(f"the {what} failed verification ({verdict.reason}: {error.message})")
    claims = parsed.claims
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise invalid_grant(f"the {what} has no subject")
    audiences = _audiences(claims)
    scopes = tuple(scope_set(claims.get("scope") if isinstance(claims.get("scope"), str) else None))
    if local or upstream is None:
        if is_revoked(platform, claims):
            raise invalid_grant(f"the {what} was revoked (its session was signed out); sign in again")
        session = config.audience in audiences
        if not session and not any(config.find_cluster(a) for a in audiences):
            raise invalid_grant(f"the {what} is not meant for this platform (aud)")
        return Party(sub, claims, iss, True, session, scopes, audiences)
    if upstream.audience is not None and upstream.audience not in audiences:
        raise invalid_grant(f"the {what} is not meant for {upstream.audience!r} (aud)")
    if "*" not in upstream.clients and req.auth.client.client_id not in upstream.clients:
        raise invalid_grant(f"this client may not redeem tokens of upstream {upstream.connector_id!r}")
    principal = upstream.principal(sub)
    if principal is None:
        raise invalid_grant(f"the {what}'s subject is outside the trust domain "
                            f"{upstream.trust_domain!r} of upstream {upstream.connector_id!r}")
    if principal in config.users or principal in config.clients or config.parse_spiffe(principal):
        # A namespace collision is a configuration mistake; never let it make a local identity.
        raise invalid_grant(f"the {what}'s subject maps onto a local identity; upstream "
                            f"{upstream.connector_id!r} needs a subject_prefix of its own")
    return Party(principal, claims, iss, False, True, scopes, audiences, upstream.connector_id)


def _pq_kid(header: dict[str, Any]) -> str | None:
    """The ``kid`` of a hybrid token's detached ML-DSA part (for a refetch on an unknown key)."""
    pq = header.get("pq")
    protected = pq.get("protected") if isinstance(pq, dict) else None
    if not isinstance(protected, str) or len(protected) > 4096:
        return None
    try:
        kid = loads_json(b64url_decode(protected, "pq header"), "pq header").get("kid")
    except (JoseError, AttributeError):
        return None
    return kid if isinstance(kid, str) else None


def _check_redeemer(config: Config, client: Any, subject: Party, actor: Party | None) -> None:
    """May the authenticated client redeem this subject token? (the rule in the docstring)"""
    if not subject.local:
        return  # upstream tokens: checked against the upstream's ``clients`` in verify_party
    issued_to = subject.claims.get("client_id")
    if issued_to == client.client_id or issued_to in client.redeems_for:
        return
    if client.environment is not None and client.service is not None:
        env = config.environment(client.environment)
        if env is not None and env.spiffe_id(client.service) == subject.principal:
            return
    if actor is not None and _may_act_names(subject.claims, actor) is True:
        return
    raise invalid_grant("this client may not redeem that subject token: it was issued to another "
                        "client (see the client's redeems_for, or name the actor in may_act)")


def _act_chain_depth(act: Any) -> int:
    depth = 0
    while isinstance(act, dict):
        depth += 1
        act = act.get("act")
    return depth


def _may_act_names(claims: dict[str, Any], actor: Party) -> bool | None:
    """None when the subject has no may_act; else whether it names the actor."""
    may_act = claims.get("may_act")
    if may_act is None:
        return None
    if not isinstance(may_act, dict):
        return False
    if may_act.get("sub") != actor.principal:
        return False
    return "iss" not in may_act or may_act["iss"] == actor.issuer


async def grant(req: TokenRequest) -> Issued:
    params, platform = req.params, req.platform
    config: Config = platform.config
    client = req.auth.client
    if GRANT_TOKEN_EXCHANGE not in client.grant_types:
        raise unauthorized_client("this client may not use token exchange")
    subject_token = params.get("subject_token")
    subject_type = params.get("subject_token_type")
    if not subject_token or not subject_type:
        raise invalid_request("subject_token and subject_token_type are required")
    if subject_type not in ACCEPTED_SUBJECT_TYPES:
        raise invalid_request("subject_token_type must be the access_token or jwt token type")
    actor_token, actor_type = params.get("actor_token"), params.get("actor_token_type")
    if bool(actor_token) != bool(actor_type):
        raise invalid_request("actor_token and actor_token_type go together")
    if actor_type is not None and actor_type not in ACCEPTED_SUBJECT_TYPES:
        raise invalid_request("actor_token_type must be the access_token or jwt token type")
    requested_type = params.get("requested_token_type", TOKEN_TYPE_ACCESS)
    if requested_type not in ACCEPTED_SUBJECT_TYPES:
        raise invalid_request("requested_token_type must be the access_token or jwt token type")
    audiences, resources = req.multi.get("audience", []), req.multi.get("resource", [])
    if len(audiences) > 1:
        raise invalid_target("ask for one target cluster (audience) per token")
    if len(resources) > 1:
        raise invalid_target("ask for one service (resource) per token")

    subject = await verify_party(req, subject_token, "subject token")
    req.audit["subject"] = subject.principal
    actor = await verify_party(req, actor_token, "actor token") if actor_token else None
    if actor is not None:
        req.audit["actor"] = actor.principal
    _check_redeemer(config, client, subject, actor)

    # -- the target cluster --------------------------------------------------------------
    if audiences:
        target = audiences[0]
    elif not subject.session and len(subject.audiences) == 1:
        target = subject.audiences[0]
    else:
        raise invalid_request("audience (the target cluster) is required")
    req.audit["audience"] = target
    found = config.find_cluster(target)
    if found is None:
        raise invalid_target(f"unknown cluster {target!r}")
    env, cluster = found
    if req.issuer.cluster is not None and req.issuer.cluster != target:
        raise invalid_target(f"this issuer only issues tokens for {req.issuer.cluster!r}")
    if req.issuer.cluster is None and cluster.own_issuer:
        raise invalid_target(f"cluster {target!r} has its own issuer; exchange at its token endpoint")
    if "*" not in client.audiences and target not in client.audiences:
        raise invalid_target(f"this client may not obtain tokens for {target!r}")
    if not subject.session and target not in subject.audiences:
        raise invalid_target(f"the subject token is not valid for {target!r}; audiences only narrow")

    # -- the service -----------------------------------------------------------------------
    if resources:
        parsed_id = config.parse_spiffe(resources[0])
        if parsed_id is None:
            raise invalid_target("resource must be spiffe://<trust domain>/env/<env>/svc/<service>")
        res_env, service = parsed_id
        if res_env.name != env.name:
            raise invalid_target(f"{target!r} is not in environment {res_env.name!r}")
    else:
        own = config.parse_spiffe(subject.principal)
        if own is None or own[0].name != env.name:
            raise invalid_request("resource (the service's SPIFFE ID) is required")
        service = own[1]
    req.audit["service"] = service
    if service not in cluster.services:
        raise invalid_target(f"no service {service!r} in cluster {target!r}")
    new_sub = env.spiffe_id(service)

    # -- who acts, and may they ------------------------------------------------------------
    if actor is not None:
        names = _may_act_names(subject.claims, actor)
        if names is False:
            raise invalid_grant("the subject token's may_act does not name the actor")
    else:
        names = None
    who = actor.principal if actor is not None else subject.principal
    # Keeping the subject's own identity narrows a token this platform issued (its scopes were
    # granted here); every other exchange, and every upstream subject, is bounded by policy.
    keeps_identity = new_sub == subject.principal and (actor is None or names is True)
    if subject.local and keeps_identity:
        allowed: set[str] = set(subject.scopes)
    else:
        granted = config.allowed_scopes(who, env.name, service, target)
        if granted is None:
            raise invalid_target(f"policy: {who} may not act for {service!r} in {target!r}")
        allowed = granted
    if subject.session and subject.local and "federate" not in subject.scopes:
        raise invalid_scope("the subject token does not hold the 'federate' scope")
    if not subject.session:
        allowed = allowed & set(subject.scopes)

    requested = scope_set(params.get("scope"))
    if requested:
        extra = [s for s in requested if s not in allowed]
        if extra:
            raise invalid_scope(f"scope beyond what may be granted: {' '.join(extra)}")
        scopes = requested
    else:
        scopes = sorted(allowed)
    if not scopes:
        raise invalid_scope("no scope may be granted for this exchange")
    scope = " ".join(scopes)
    req.audit["scope"] = scope

    # -- act (RFC 8693 §4.1): the current actor outermost, earlier ones nested -------------
    # Only a chain this platform wrote is carried on: an upstream's ``act`` names principals of
    # its own namespace (it could name a local user), so its subject starts a new chain.
    prior = subject.claims.get("act")
    act: dict[str, Any] | None = prior if subject.local and isinstance(prior, dict) else None
    if new_sub != subject.principal:
        act = {"sub": subject.principal, **({"act": act} if act else {})}
    if actor is not None:
        act = {"sub": actor.principal, **({"act": act} if act else {})}
    req.audit["actor"] = act["sub"] if act else None
    if _act_chain_depth(act) > MAX_ACT_DEPTH:
        raise invalid_grant("the delegation chain is too long")

    lifetime = min(x for x in (config.tokens.lifetime, config.tokens.max_lifetime,
                               client.max_lifetime, cluster.max_lifetime) if x is not None)
    claims: dict[str, Any] = {"sub": new_sub, "aud": target, "client_id": client.client_id,
                              "scope": scope, "env": env.name, "cluster": target}
    if act:
        claims["act"] = act
    issuer: Issuer = req.issuer
    token, jti, _ = mint(issuer, claims, lifetime)
    req.audit["jti"] = jti
    return Issued({"access_token": token, "issued_token_type": requested_type, "token_type": "Bearer",
                   "expires_in": lifetime, "scope": scope})
