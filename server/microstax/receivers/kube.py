"""The Kubernetes webhook token authenticator (``authentication.k8s.io/v1`` TokenReview).

The API server (``--authentication-token-webhook-config-file``) POSTs a TokenReview holding
the bearer token; we answer with the same claim mappings as the structured JWT
authenticator config of ``microstax platform kube-authn``:

* username = ``sub``; groups = each ``scope`` prefixed ``microstax:scope:``;
* extra ``microstax.dev/env`` = ``env``, ``microstax.dev/client-id`` = ``client_id``,
  ``microstax.dev/actor`` = the ``act`` chain, current actor first (the JWT config maps
  only the first: ``act.sub``).

A refusal is ``authenticated: false`` with the reason in ``status.error`` (HTTP 200, as the
protocol wants); a malformed review is HTTP 400. The API server caches each verdict for
``--authentication-token-webhook-cache-ttl`` (default 2m).
"""

from __future__ import annotations

from typing import Any

from ..jose import loads_json
from .gate import Identity, Refusal

API_VERSIONS = ("authentication.k8s.io/v1", "authentication.k8s.io/v1beta1")
MAX_REVIEW_BYTES = 64 * 1024


class BadReview(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_review(body: bytes) -> tuple[str, str]:
    """(apiVersion, token) of a TokenReview request body, or ``BadReview``."""
    try:
        doc = loads_json(body, "TokenReview")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReview("the body is not JSON (expected a TokenReview)") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "TokenReview":
        raise BadReview("the body is not a TokenReview")
    version = doc.get("apiVersion")
    if version not in API_VERSIONS:
        raise BadReview(f"apiVersion must be one of {', '.join(API_VERSIONS)}")
    spec = doc.get("spec")
    token = spec.get("token") if isinstance(spec, dict) else None
    if not isinstance(token, str):
        raise BadReview("spec.token is missing")
    return str(version), token


def user_info(identity: Identity, group_prefix: str) -> dict[str, Any]:
    extra: dict[str, list[str]] = {}
    if identity.env:
        extra["microstax.dev/env"] = [identity.env]
    if identity.client_id:
        extra["microstax.dev/client-id"] = [identity.client_id]
    if identity.actors:
        extra["microstax.dev/actor"] = list(identity.actors)
    info: dict[str, Any] = {"username": identity.subject,
                            "groups": [group_prefix + s for s in identity.scopes]}
    if extra:
        info["extra"] = extra
    return info


def review_response(version: str, *, identity: Identity | None = None,
                    group_prefix: str = "microstax:scope:",
                    refusal: Refusal | None = None) -> dict[str, Any]:
    status: dict[str, Any]
    if identity is not None:
        status = {"authenticated": True, "user": user_info(identity, group_prefix)}
    else:
        why = f"{refusal.reason}: {refusal.description}" if refusal else "not authenticated"
        status = {"authenticated": False, "error": why}
    return {"apiVersion": version, "kind": "TokenReview", "status": status}


def webhook_kubeconfig(server_url: str, ca_pem: str, *, name: str = "microstax-verifier") -> str:
    """The kubeconfig-format file for ``--authentication-token-webhook-config-file``."""
    import base64

    ca_b64 = base64.b64encode(ca_pem.encode("ascii")).decode("ascii")
    return (
        "# kube-apiserver --authentication-token-webhook-config-file=<this file>\n"
        "#   --authentication-token-webhook-version=v1\n"
        "#   --authentication-token-webhook-cache-ttl=30s   (default 2m: verdicts are cached that long)\n"
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {name}\n"
        "  cluster:\n"
        f"    server: {server_url}\n"
        f"    certificate-authority-data: {ca_b64}\n"
        "users:\n"
        "- name: kube-apiserver\n"
        "  user: {}\n"
        "contexts:\n"
        "- name: webhook\n"
        "  context:\n"
        f"    cluster: {name}\n"
        "    user: kube-apiserver\n"
        "current-context: webhook\n"
    )
