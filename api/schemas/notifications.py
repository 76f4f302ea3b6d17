from __future__ import annotations

import marshmallow as ma

from api.schemas.common import PageArgs, StrictSchema, UtcDateTime, in_column
from rewards_engine.domain.notifications import Kind


class InboxNotificationSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(
        required=True,
        metadata={"enum": [kind.value for kind in Kind], "description": "Stable: switch on it"},
    )
    title = ma.fields.String(required=True, metadata={"description": "In your language"})
    body = ma.fields.String(required=True)
    data = ma.fields.Dict(
        required=True,
        metadata={"description": "Ids to open the right screen (claim_id, clip_id, "
                  "redemption_id, payout_item_id, campaign_id, codes...)"},
    )  # fmt: skip
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(allow_none=True, required=True)


class NotificationQuerySchema(PageArgs):
    unread = ma.fields.Boolean(load_default=False, metadata={"description": "Unread ones only"})


class ReadAllSchema(StrictSchema):
    up_to_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=in_column(64),
        metadata={"description": "The newest one the app showed: later ones stay unread"},
    )


class UnreadSchema(ma.Schema):
    unread = ma.fields.Integer(required=True)


class MarkedSchema(ma.Schema):
    marked = ma.fields.Integer(required=True)


class FollowSchema(ma.Schema):
    board = ma.fields.String(required=True)
    last_rank = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "The rank you were last told"}
    )
    created_at = UtcDateTime(required=True)
