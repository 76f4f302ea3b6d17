"""Staff sessions and token revocations as admins read and change them."""

from __future__ import annotations

import marshmallow as ma

from api.schemas.common import REASON, StrictSchema, UtcDateTime
from rewards_engine.tokens import MAX_JTI_LENGTH, MAX_SUBJECT_LENGTH

SUBJECT = ma.fields.String(
    required=True,
    validate=ma.validate.Length(min=1, max=MAX_SUBJECT_LENGTH),
    metadata={"description": "The account id the tokens carry as `sub`"},
)


class StaffSessionSchema(ma.Schema):
    """An open console session: never its id (nor the id's hash)."""

    subject = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    created_at = ma.fields.AwareDateTime(required=True, metadata={"description": "Since"})
    last_seen_at = ma.fields.AwareDateTime(
        required=True, metadata={"description": "Last used (written at most once a minute)"}
    )
    expires_at = ma.fields.AwareDateTime(required=True)


class StaffSessionListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(StaffSessionSchema), required=True)


class EndSessionsSchema(StrictSchema):
    subject = SUBJECT
    reason = REASON


class EndedSessionsSchema(ma.Schema):
    subject = ma.fields.String(required=True)
    ended = ma.fields.Integer(required=True, metadata={"description": "Sessions ended now"})


class TokenRevocationRequestSchema(StrictSchema):
    jti = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_JTI_LENGTH),
        metadata={"description": "The token's `jti` claim"},
    )
    expires_at = UtcDateTime(
        load_default=None,
        metadata={
            "description": "The token's `exp`: the denial is kept until then (30 days "
            "when not given)"
        },
    )
    subject = ma.fields.String(
        load_default=None, validate=ma.validate.Length(min=1, max=MAX_SUBJECT_LENGTH)
    )
    reason = REASON


class SubjectRevocationRequestSchema(StrictSchema):
    subject = SUBJECT
    reason = REASON


class RevocationSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    jti = ma.fields.String(allow_none=True, required=True)
    subject = ma.fields.String(allow_none=True, required=True)
    not_before = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "The subject's tokens issued before this are void"},
    )
    expires_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    actor_id = ma.fields.String(required=True)
    reason = ma.fields.String(allow_none=True, required=True)


class RevocationListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RevocationSchema), required=True)
