"""Bearer-token authentication and role checks for the views.

``auth_required(role)`` goes outermost on a view, so that a request without a valid
token gets 401 before its body is even parsed, and one with the wrong role 403. A
token that verifies but was revoked (its ``jti``, or its subject since its ``iat``)
gets 401 too: ``verify_token`` asks this process's copy of the revocations, a lookup
in memory (services/revocations.py says how fresh it is).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from flask_smorest import Blueprint, abort

from api import context, limits
from rewards_engine.domain.roles import STAFF_ROLES, Role
from rewards_engine.services import donors, staff_policy
from rewards_engine.services.revocations import RevocationCache
from rewards_engine.tokens import InvalidToken, Principal

F = TypeVar("F", bound=Callable[..., Any])

SECURITY_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _unauthorized(reason: str) -> None:
    abort(
        401,
        message=reason,
        headers={"WWW-Authenticate": 'Bearer realm="rewards", error="invalid_token"'},
    )


def revocations() -> RevocationCache:
    """This process's copy of the token revocations (one per runtime)."""
    runtime = context.runtime()
    return runtime.extension("token_revocations", lambda: RevocationCache(runtime.db))


def verify_token(token: str) -> Principal:
    """The token's principal, unless it does not verify or was revoked (InvalidToken)."""
    principal = context.token_verifier().verify(token)
    refusal = revocations().refusal(principal)
    if refusal is not None:
        raise InvalidToken(refusal)
    return principal


def authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _unauthorized("an Authorization: Bearer <token> header is required")
    try:
        return verify_token(token.strip())
    except InvalidToken as exc:
        try:  # guessing tokens from one address ends in 429s
            limits.count(
                "bad-tokens",
                limits.caller_address(),
                context.runtime().settings.rate_limits.bad_tokens_per_address,
            )
        except limits.TooMany as error:
            limits.refuse(error)
        _unauthorized(exc.reason)
        raise  # unreachable: abort raises


def auth_required(role: Role) -> Callable[[F], F]:
    """Require a valid token whose role is ``role`` (a donor or the video pipeline; staff
    routes authorize by action with ``staff_action``)."""
    if role in STAFF_ROLES:
        raise ValueError(f"staff routes use staff_action(...), not auth_required({role.value})")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate()
            if caller.role != role:
                abort(403, message=f"this needs the {role.value} role")
            g.principal = caller
            if caller.role == Role.DONOR:
                runtime = context.runtime()
                lookup = runtime.extension(
                    "donor_lookup", lambda: donors.DonorLookup(runtime.db, runtime.clock)
                )
                try:
                    g.donor = lookup.get(caller.subject)
                except donors.AccountErased:
                    _unauthorized("this account was erased at its owner's request")
            return view(*args, **kwargs)

        return cast(F, _documented(wrapper, f"The token's role is not {role.value}"))

    return decorator


def _documented(view: Callable[..., Any], forbidden: str) -> Any:
    """The OpenAPI security and refusals of a route behind a bearer token; ``forbidden``
    says what its 403 means."""
    documented = Blueprint.doc(
        security=[{"bearerAuth": []}],
        responses={
            "401": {"description": "Missing, expired or invalid token", "content": _ERROR_REF},
            "403": {"description": forbidden, "content": _ERROR_REF},
            "429": {
                "description": "Too many refused tokens from this address: see Retry-After",
                "content": _ERROR_REF,
            },
        },
    )
    return documented(view)  # flask-smorest ships no types


def staff_action(*actions: str) -> Callable[[F], F]:
    """Require a staff token whose role may do one of ``actions`` under the staff policy
    (read at each request: an admin's change applies to the next one). The use case
    authorizes again with the exact action and amount (per-action and daily limits)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate()
            if caller.role not in STAFF_ROLES:
                abort(403, message="this needs a staff role")
            policy = staff_policy.current(context.runtime().db)
            if not policy.allows_any(caller.role.value, actions):
                abort(
                    403, message=f"the {caller.role.value} role may not do {' or '.join(actions)}"
                )
            g.principal = caller
            return view(*args, **kwargs)

        return cast(
            F,
            _documented(
                wrapper,
                "The token's role may not do this action, or the amount passes its limit "
                "(`over_limit`, `daily_limit_exceeded`)",
            ),
        )

    return decorator
