"""The OpenAPI document as generated clients need it (issue 22), refined in one place.

flask-smorest and apispec write the document from the routes and their schemas; this
module adds, on every ``to_dict`` (so ``/openapi.json`` and ``flask openapi write``
agree), what they cannot know:

- an ``operationId`` per operation (generated clients name their methods after it),
  derived from the method and the path (``GET /v1/me/notifications`` is
  ``listMyNotifications``), with :data:`OPERATION_IDS` where the derived one reads badly;
- ``security``: the bearer scheme where a route checks a token, ``[]`` where it is
  public, either where a token is optional;
- the ``Error`` schema on every documented 4xx and 5xx answer that names no schema;
- the response headers sent: ``X-Request-Id`` on all, ``ETag`` on the 304s,
  ``Retry-After`` on 429 and 503, ``Idempotent-Replayed`` on replayable writes, the
  rate-limit headers (``RateLimit``, ``RateLimit-Policy``) where a quota is counted,
  and 429 descriptions naming their limit;
- ``servers``, ``license`` and ``contact``;
- nullable enums without ``null`` among their values, and no ``default: null`` (a null
  default says only "optional", and some generators make a field with a default
  required).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

METHODS = ("get", "put", "post", "patch", "delete")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

# Where the derived operationId reads badly (or two would be the same).
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("get", "/healthz"): "checkLiveness",
    ("get", "/readyz"): "checkReadiness",
    ("post", "/v1/me/consent"): "grantConsent",
    ("delete", "/v1/me/consent"): "withdrawConsent",
    ("get", "/v1/consent"): "getConsentText",
    ("get", "/v1/me/consents"): "listMyConsentRecords",
    ("get", "/v1/me/export"): "exportMyData",
    ("get", "/v1/me/ledger"): "listMyLedgerEntries",
    ("post", "/v1/me/cameras"): "registerMyCamera",
    ("post", "/v1/intake/cameras"): "intakeRegisterCamera",
    ("post", "/v1/intake/clips"): "intakeReportClips",
    ("post", "/v1/submissions"): "donateClips",
    ("post", "/v1/uploads/{claim_id}/complete"): "completeUpload",
    ("get", "/v1/honor-wall"): "getHonorWallPage",
    ("get", "/v1/honor-wall/me"): "getMyWallStanding",
    ("post", "/v1/me/medal-notifications/{notification_id}/read"): "markMedalNotificationRead",
    ("post", "/v1/me/notifications/{notification_id}/read"): "markNotificationRead",
    ("post", "/v1/me/notifications/read-all"): "markAllNotificationsRead",
    ("get", "/v1/me/notifications/unread-count"): "countMyUnreadNotifications",
    ("get", "/v1/me/follows"): "listMyFollowedBoards",
    ("put", "/v1/me/follows/{board}"): "followBoard",
    ("delete", "/v1/me/follows/{board}"): "unfollowBoard",
    ("post", "/v1/me/devices"): "registerMyDevice",
    ("put", "/v1/me/push-preferences"): "replaceMyPushPreferences",
    ("post", "/v1/redemptions"): "redeemReward",
    ("post", "/v1/admin/consent-versions"): "adminPublishConsentVersion",
    ("post", "/v1/admin/medals/backfill"): "adminBackfillMedals",
    ("post", "/v1/admin/redemptions/{redemption_id}/transition"): "adminTransitionRedemption",
    ("post", "/v1/admin/rewards/{item_id}/stock"): "adminRestockReward",
    ("post", "/v1/admin/rewards/{item_id}/codes"): "adminUploadRewardCodes",
    ("post", "/v1/admin/payout-batches"): "adminStartPayoutBatches",
    ("get", "/v1/admin/payout-batches/{batch_id}/export.csv"): "adminExportPayoutBatchCsv",
    ("post", "/v1/admin/donors/{donor_id}/adjustments"): "adminAdjustDonorBalance",
    ("get", "/v1/admin/audit-log"): "adminListAuditLog",
    ("get", "/v1/admin/staff-sessions"): "adminListStaffSessions",
    ("post", "/v1/admin/staff-sessions/end"): "adminEndStaffSessions",
    ("get", "/v1/admin/token-revocations"): "adminListTokenRevocations",
    ("post", "/v1/admin/token-revocations"): "adminRevokeToken",
    ("post", "/v1/admin/subject-revocations"): "adminRevokeSubject",
    ("post", "/v1/admin/submissions/review"): "adminReviewSubmissionsInBulk",
    ("post", "/v1/admin/approvals/{approval_id}/approve"): "adminApproveRequest",
    ("post", "/v1/admin/approvals/{approval_id}/refuse"): "adminRefuseRequest",
    ("post", "/v1/webhooks/paypal"): "receivePaypalWebhook",
    ("post", "/v1/webhooks/stripe"): "receiveStripeWebhook",
    ("put", "/v1/storage/uploads/{token}"): "uploadVideo",
}

# A token is optional: without one the route still answers (an erased donor's request).
OPTIONAL_AUTH = {("get", "/v1/me/data-requests/{request_id}")}

# Routes that count a per-donor quota (api/limits.py ``per_donor``): the setting and the
# name the RateLimit headers give it.
RATE_LIMITED: dict[tuple[str, str], tuple[str, str]] = {
    ("post", "/v1/submissions"): ("submissions", "RATE_LIMIT_SUBMISSIONS"),
    ("post", "/v1/redemptions"): ("redemptions", "RATE_LIMIT_REDEMPTIONS"),
}
BAD_TOKENS = (
    'refused bearer tokens from this address (quota "bad-tokens", RATE_LIMIT_BAD_TOKENS a minute)'
)

HEADERS: dict[str, dict[str, Any]] = {
    "X_REQUEST_ID": {
        "description": "The request's id (yours if you sent a sane X-Request-Id): quote it "
        "to support",
        "schema": {"type": "string", "maxLength": 64},
    },
    "RETRY_AFTER": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    },
    "IDEMPOTENT_REPLAYED": {
        "description": "`true` when this answer replays the first one given to the same "
        "Idempotency-Key (nothing was done again); absent otherwise",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "RATE_LIMIT": {
        "description": 'Where the caller stands in the quota: `"<name>";r=<remaining>;'
        "t=<seconds until it resets>` (draft-ietf-httpapi-ratelimit-headers)",
        "schema": {"type": "string"},
    },
    "RATE_LIMIT_POLICY": {
        "description": 'The quota: `"<name>";q=<requests>;w=<window in seconds>`',
        "schema": {"type": "string"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def install(api: Any, server_url: str) -> None:
    """Refine ``api``'s document each time it is written (flask-smorest's ``Api``)."""
    write = api.spec.to_dict

    def to_dict() -> dict[str, Any]:
        return refine(write(), server_url)

    api.spec.to_dict = to_dict


def refine(generated: dict[str, Any], server_url: str) -> dict[str, Any]:
    """The document ``generated`` by apispec, refined (a copy: apispec's own is kept)."""
    spec = copy.deepcopy(generated)
    info = spec.setdefault("info", {})
    info.setdefault("license", {"name": "Proprietary"})  # not published under a licence
    info.setdefault("contact", {"name": "Rewards engine team", "url": f"{server_url}/docs"})
    spec["servers"] = [{"url": server_url, "description": "This server"}]
    components = spec.setdefault("components", {})
    components.setdefault("headers", {}).update(HEADERS)
    for response in components.get("responses", {}).values():
        _common_headers(response)
    components["responses"].get("NOT_MODIFIED", {}).setdefault("headers", {})["ETag"] = _ref("ETAG")
    for path, method, operation in _operations(spec):
        key = (method, path)
        operation["operationId"] = OPERATION_IDS.get(key) or derive_operation_id(
            method, path, operation
        )
        if key in OPTIONAL_AUTH:
            operation["security"] = [{}, *BEARER]
        else:
            operation.setdefault("security", [])
        _responses(key, operation)
    for schema in components.get("schemas", {}).values():
        _tidy_schema(schema)
    _drop_unused_schemas(spec)
    return spec


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _drop_unused_schemas(spec: dict[str, Any]) -> None:
    """flask-smorest registers ``PaginationMetadata`` whether or not a route uses it."""
    schemas = spec["components"].get("schemas", {})
    used = '"#/components/schemas/PaginationMetadata"' in json.dumps(spec)
    if "PaginationMetadata" in schemas and not used:
        del schemas["PaginationMetadata"]


def _responses(key: tuple[str, str], operation: dict[str, Any]) -> None:
    replayable = any(
        parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key"
        for parameter in operation.get("parameters", [])
    )
    limited = RATE_LIMITED.get(key)
    responses = operation.setdefault("responses", {})
    if key[1].startswith("/v1/") and "422" not in responses:
        responses["422"] = {
            "description": "A query parameter the operation does not take "
            "(unknown_query_parameter, each named in errors.query)"
        }
    for code, response in operation.get("responses", {}).items():
        if "$ref" in response:
            continue
        _common_headers(response)
        headers = response["headers"]
        if code[0] in "45" and not response.get("content"):
            response["content"] = copy.deepcopy(ERROR_CONTENT)
        if code in ("429", "503"):
            headers["Retry-After"] = _ref("RETRY_AFTER")
        if code.startswith("2") and replayable:
            headers["Idempotent-Replayed"] = _ref("IDEMPOTENT_REPLAYED")
        counted = limited is not None or (code in ("401", "429") and operation["security"])
        if counted:
            headers["RateLimit"] = _ref("RATE_LIMIT")
            headers["RateLimit-Policy"] = _ref("RATE_LIMIT_POLICY")
        if code == "429":
            response["description"] = _too_many(limited, bool(operation["security"]))


def _too_many(limited: tuple[str, str] | None, authenticated: bool) -> str:
    limits = []
    if limited is not None:
        name, setting = limited
        limits.append(f'the donor\'s calls (quota "{name}", {setting} a minute)')
    if authenticated:
        limits.append(BAD_TOKENS)
    return "Too many requests: " + " or ".join(limits) + "; see Retry-After and RateLimit"


def _common_headers(response: dict[str, Any]) -> None:
    if "$ref" not in response:
        response.setdefault("headers", {})["X-Request-Id"] = _ref("X_REQUEST_ID")


def _tidy_schema(schema: Any) -> None:
    """Nullable enums list their values only; no ``default: null``; recursively."""
    if isinstance(schema, list):
        for item in schema:
            _tidy_schema(item)
        return
    if not isinstance(schema, dict):
        return
    if "enum" in schema and None in schema["enum"] and schema["enum"] != [None]:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
        schema["nullable"] = True
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    nullable_ref = _nullable_ref(schema.get("anyOf"))
    if nullable_ref is not None:  # apispec's nullable Nested: the object or null
        schema["anyOf"] = [nullable_ref, NULL_ONLY]
    for value in schema.values():
        _tidy_schema(value)


# Null and nothing else: apispec writes a nullable Nested field as ``anyOf: [{$ref},
# {type: object, nullable: true}]``, which generators read as "the object, any other
# object, or null". (``nullable`` beside a lone ``$ref`` is ignored by some generators,
# and Redocly wants a ``type`` beside ``nullable``.)
NULL_ONLY: dict[str, Any] = {"type": "object", "nullable": True, "enum": [None]}


def _nullable_ref(choices: Any) -> dict[str, Any] | None:
    """The ``$ref`` of ``anyOf: [{$ref}, {type: object, nullable: true}]``, else None."""
    if not isinstance(choices, list) or len(choices) != 2:
        return None
    refs = [choice for choice in choices if set(choice) == {"$ref"}]
    empty = [c for c in choices if c in ({"type": "object", "nullable": True}, NULL_ONLY)]
    return refs[0] if len(refs) == 1 and len(empty) == 1 else None


# Path segments that name an action on the resource before them (POST .../retire).
ACTIONS = {
    "attach", "cancel", "complete", "read", "resend", "resolve", "retire", "reverse",
    "review", "settle", "transition",
}  # fmt: skip
SINGLETONS = {"me", "home", "consent", "transparency", "push-preferences", "unread-count"}


def derive_operation_id(method: str, path: str, operation: dict[str, Any]) -> str:
    """``getMe``, ``listMyNotifications``, ``deleteMyDevice``, ``adminRetireMedal``: a
    verb from the method (``list`` for a page or an array), ``My`` under ``/v1/me``,
    ``admin`` under ``/v1/admin``, then the resource's words, singular for one item."""
    segments = [s for s in path.split("/") if s and s != "v1"]
    prefix = ""
    if segments[0] == "admin":
        prefix, segments = "admin", segments[1:]
    mine = segments[0] == "me" and len(segments) > 1
    if mine:
        segments = segments[1:]
    action = segments[-1] if segments[-1] in ACTIONS and method == "post" else None
    if action:
        segments = segments[:-1]
    one = segments[-1].startswith("{") or action is not None
    words: list[str] = []
    for index, segment in enumerate(segments):
        if segment.startswith("{"):
            continue
        following = segments[index + 1] if index + 1 < len(segments) else None
        last = following is None
        if (following or "").startswith("{") or (last and (one or method == "post")):
            segment = _singular(segment)
        words.append(_camel(segment))
    noun = "".join(words)
    if action:
        verb = action
    elif method == "get":
        verb = "list" if _is_list(operation) else "get"
    else:
        verb = {"post": "create", "put": "update", "patch": "update", "delete": "delete"}[method]
    if mine:
        noun = "My" + noun
    name = verb + noun
    return prefix + name[0].upper() + name[1:] if prefix else name


def _is_list(operation: dict[str, Any]) -> bool:
    ok = operation.get("responses", {}).get("200", {})
    schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("type") == "array" or schema.get("$ref", "").endswith("Page"))


def _singular(word: str) -> str:
    if word in SINGLETONS or not word.endswith("s"):
        return word
    return word[:-2] if word.endswith("ches") else word[:-1]


def _camel(word: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_.]", word) if part)
