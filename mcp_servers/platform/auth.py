"""Who is calling: bearer tokens over HTTP (JWT or API key), configuration over stdio."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastmcp.server.auth import AccessToken, JWTVerifier, RemoteAuthProvider, TokenVerifier
from fastmcp.server.dependencies import get_access_token
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from pydantic import AnyHttpUrl
from starlette.middleware import Middleware
from starlette.routing import Route

from mcp_servers.config import Settings
from mcp_servers.platform.local_tokens import LOCAL_ISSUER, local_key
from mcp_servers.platform.token_help import TokenHelp, token_hint
from tools.platform.models import IDENTIFIER_PATTERN
from tools.platform.principal import Principal, Role

__all__ = ["CaasResourceServer", "CaasTokenVerifier", "PrincipalSource", "dev_token"]

log = logging.getLogger(__name__)
_CLAIM = "caas_principal"
# A verified JWT is kept, by its exact text, until its exp or for at most this long, whichever is sooner.
# Verifying again gives the same answer until then: signature, issuer, audience, lifetime, nbf and the
# claims are fixed by the text, and only exp depends on the time. An agent sends the same token with
# every call, and verifying it (base64, JSON, HMAC or RSA, the claims' checks) was ~5% of a call's CPU.
# The cap bounds how long a JWKS key's withdrawal takes to reach a token already seen; fastmcp keeps
# the JWKS itself for an hour, so it adds nothing to that. Refusals are never kept.
VERIFIED_TTL_S = 300
VERIFIED_MAX = 4096
# A bearer token longer than this is refused unread: identity providers' tokens are a few kB (Supabase's
# carry the user's metadata), and reading a large one costs every route it is sent to.
MAX_TOKEN_CHARS = 16_384
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def _principal_claims(principal: Principal) -> dict[str, Any]:
    return {
        "sub": principal.subject,
        "role": principal.role.value,
        "provider_id": principal.provider_id,
        "scopes": sorted(principal.scopes),
    }


def _stored_id(value: object) -> str | None:
    """``value`` when it can be an id the platform stores and logs (the tools' Identifier rule: visible
    characters, no spaces or controls, encodable), else None: a trusted issuer's token is still input."""
    if not isinstance(value, str) or not 1 <= len(value) <= 200 or not _IDENTIFIER.fullmatch(value):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return value


def principal_from_jwt(claims: dict[str, Any]) -> Principal | None:
    """Map verified JWT claims to a principal.

    Supabase puts its own database role ("authenticated") in ``role``, so the CaaS role is read from
    ``app_metadata.caas_role`` (set by the platform, not editable by the user) or a ``caas_role``
    claim; a plain signed-in user is a borrower.
    """
    subject = _stored_id(claims.get("sub"))
    if subject is None:
        return None
    raw_metadata = claims.get("app_metadata")
    app_metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    raw_role = app_metadata.get("caas_role") or claims.get("caas_role") or Role.BORROWER.value
    try:
        role = Role(raw_role)
    except ValueError:
        return None
    raw_provider = app_metadata.get("provider_id") or claims.get("provider_id")
    provider_id = _stored_id(raw_provider) if raw_provider else None
    if raw_provider and provider_id is None:
        return None
    scope = claims.get("scope") or ""
    scopes = frozenset(s for s in scope.split() if _stored_id(s)) if isinstance(scope, str) else frozenset()
    return Principal(subject, role, provider_id, scopes)


class CaasTokenVerifier(TokenVerifier):
    """Accepts a configured API key (compared in constant time) or a JWT verified by signature,
    issuer, audience and expiry: the configured issuer's, or a local one (``caas token --role``) where
    local tokens are on. Anything else is refused, which the HTTP layer turns into a 401."""

    def __init__(self, settings: Settings, api_keys: dict[str, Principal], *, server: str = "caas") -> None:
        super().__init__()
        self._api_keys = [(key.encode(), principal) for key, principal in api_keys.items()]
        self._jwt: JWTVerifier | None = None
        audience = settings.audience_for(server)
        if settings.jwt_secret is not None:
            self._jwt = JWTVerifier(
                public_key=settings.jwt_secret.get_secret_value(),
                algorithm="HS256",
                issuer=settings.jwt_issuer,
                audience=audience,
            )
        elif settings.jwt_jwks_url is not None:
            # Keys are fetched on the first token, never at start-up.
            self._jwt = JWTVerifier(
                jwks_uri=str(settings.jwt_jwks_url),
                algorithm=settings.jwt_algorithm,
                issuer=settings.jwt_issuer,
                audience=audience,
            )
        # `caas token --role ...` tokens, beside the configured issuer's: same rules, a key of our own.
        self._local: JWTVerifier | None = None
        if settings.local_tokens_enabled:
            self._local = JWTVerifier(
                public_key=local_key(settings.data_dir),
                algorithm="HS256",
                issuer=LOCAL_ISSUER,
                audience=audience,
            )
        self._max_lifetime = settings.jwt_max_lifetime_s
        # token -> (kept until, its AccessToken), least recently used first (VERIFIED_TTL_S).
        self._verified: OrderedDict[str, tuple[float, AccessToken]] = OrderedDict()
        # The claims' rules, built once: it reads the clock when it validates, not when it is built.
        self._claims_rules = JWTClaimsRegistry(
            leeway=settings.jwt_leeway_s, exp={"essential": True}, sub={"essential": True}
        )
        self._leeway = settings.jwt_leeway_s
        # `caas token` answers when local tokens are on, or when the local operator key is the only key.
        only_local_key = bool(api_keys) and settings.service_api_key is None and self._jwt is None
        local = settings.local_tokens_enabled or only_local_key
        self.token_hint = token_hint(settings, local_token=local)

    def get_middleware(self) -> list[Any]:
        return [Middleware(TokenHelp, hint=self.token_hint), *super().get_middleware()]

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token.encode()
        matched: Principal | None = None
        for key, principal in self._api_keys:
            # Compare against every key so timing does not reveal which one nearly matched.
            if hmac.compare_digest(presented, key):
                matched = principal
        if matched is not None:
            return AccessToken(
                token=token,
                client_id=matched.subject,
                scopes=sorted(matched.scopes),
                subject=matched.subject,
                claims={_CLAIM: _principal_claims(matched)},
            )
        now = time.time()
        kept = self._verified.get(token)
        if kept is not None:
            if now < kept[0]:
                self._verified.move_to_end(token)
                return kept[1]
            del self._verified[token]
        access = await self._verify_jwt(token)
        if access is not None and access.expires_at is not None:
            until = min(access.expires_at, now + VERIFIED_TTL_S)
            if until > now:
                self._verified[token] = (until, access)
                if len(self._verified) > VERIFIED_MAX:
                    self._verified.popitem(last=False)  # the least recently used
        return access

    async def _verify_jwt(self, token: str) -> AccessToken | None:
        if len(token) > MAX_TOKEN_CHARS:
            log.info("refused a bearer token of %d characters (at most %d)", len(token), MAX_TOKEN_CHARS)
            return None
        verified = None
        for verifier in (self._jwt, self._local):
            if verified is None and verifier is not None:
                try:
                    verified = await verifier.verify_token(token)
                except (RecursionError, OverflowError, ValueError, TypeError):
                    # The verifier's own decoding lets these through (a header nested a thousand deep,
                    # sent by anyone before any signature is checked; an exp of 1e400): each made every
                    # route, /health included, a 500. A token it cannot read is no token.
                    log.info("refused a bearer token that is not a readable JWT")
                    return None
        if verified is None or not self._timely(verified.claims or {}):
            return None
        caller = principal_from_jwt(verified.claims or {})
        if caller is None:
            log.info("refused a JWT whose subject or caas_role is missing or unknown")
            return None
        claims = {**(verified.claims or {}), _CLAIM: _principal_claims(caller)}
        return AccessToken(
            token=token,
            client_id=verified.client_id,
            scopes=sorted(caller.scopes),
            expires_at=verified.expires_at,
            subject=caller.subject,
            claims=claims,
        )

    def _timely(self, claims: dict[str, Any]) -> bool:
        """The library checks signature, issuer, audience and a past ``exp``; a token must also
        carry ``exp`` and ``sub``, be no longer-lived than allowed, and not be used before its
        ``nbf``/``iat`` (give or take the leeway for clock skew)."""
        try:
            self._claims_rules.validate(claims)
        except JoseError as exc:
            log.info("refused a JWT: %s", exc)
            return False
        issued = claims.get("iat")
        start = issued if isinstance(issued, int | float) else time.time()
        if claims["exp"] - start > self._max_lifetime + self._leeway:
            log.info("refused a JWT that lives longer than CAAS_JWT_MAX_LIFETIME_S")
            return False
        return True


class CaasResourceServer(RemoteAuthProvider):
    """The verifier above, plus OAuth 2.0 Protected Resource Metadata (RFC 9728) naming the issuer,
    and ``resource_metadata`` in the 401 challenge. Besides the path-aware location RFC 9728 gives for
    ``/mcp``, the metadata is also served at the bare ``/.well-known/oauth-protected-resource``."""

    def __init__(self, verifier: CaasTokenVerifier, issuer: str, resource_url: str) -> None:
        super().__init__(
            token_verifier=verifier,
            authorization_servers=[AnyHttpUrl(issuer)],
            base_url=resource_url.removesuffix("/mcp"),
            resource_name="CaaS MCP server",
        )
        self.token_hint = verifier.token_hint

    def get_middleware(self) -> list[Any]:
        return [Middleware(TokenHelp, hint=self.token_hint), *super().get_middleware()]

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        routes = super().get_routes(mcp_path)
        paths = {r.path for r in routes}
        for route in list(routes):
            for alias in (_METADATA_PATH, _METADATA_PATH + (mcp_path or "")):
                if alias not in paths:
                    paths.add(alias)
                    routes.append(Route(alias, endpoint=route.endpoint, methods=route.methods))
        return routes


_METADATA_PATH = "/.well-known/oauth-protected-resource"


class PrincipalSource:
    """Resolves the principal of the current call. Over HTTP the verified token decides; without a
    token (stdio, in-process clients) it is the configured local principal."""

    def __init__(self, local: Principal) -> None:
        self.local = local
        # The last verified token's claims and their principal. A call asks four times (the call log,
        # the role and toolset gates, the tool); each request's token has claims of its own, matched
        # by identity, and holding them here keeps their id from being reused by another's.
        self._last: tuple[dict[str, Any], Principal] | None = None

    def current(self) -> Principal:
        token = get_access_token()
        if token is None or not token.claims or _CLAIM not in token.claims:
            return self.local
        claims, last = token.claims, self._last
        if last is not None and last[0] is claims:
            return last[1]
        caller = self.from_claims(claims)
        self._last = (claims, caller)
        return caller

    @staticmethod
    def from_claims(claims: dict[str, Any]) -> Principal:
        """The principal our verifier stored in a verified token's claims."""
        c = claims[_CLAIM]
        return Principal(c["sub"], Role(c["role"]), c["provider_id"], frozenset(c["scopes"]))


def dev_token(data_dir: Path) -> str:
    """The local operator key used over HTTP when no JWT or API key is configured.

    Kept in a 0600 file in the data directory so an MCP client can be pointed at it; it never
    appears in a log.
    """
    path = data_dir / "dev-token"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = "caas_dev_" + secrets.token_urlsafe(32)
    # Written whole under another name, then linked into place (which fails if it exists): processes
    # started together (`caas serve --processes N`) all end up with the one token that got there first.
    draft = data_dir / f".dev-token.{os.getpid()}"
    draft.touch(mode=0o600)
    draft.write_text(token + "\n")
    with contextlib.suppress(FileExistsError):
        os.link(draft, path)
    draft.unlink()
    return path.read_text().strip()
