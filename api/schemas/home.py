from __future__ import annotations

import marshmallow as ma

from api.schemas.campaigns import CampaignSchema
from api.schemas.common import BalancesSchema
from api.schemas.medals import MedalSchema
from api.schemas.wall import WallStandingSchema


class HomeSchema(ma.Schema):
    balances = ma.fields.Nested(BalancesSchema, required=True)
    standing = ma.fields.Nested(
        WallStandingSchema,
        allow_none=True,
        required=True,
        metadata={"description": "On the all-time board; null while the wall cannot answer"},
    )
    next_medal = ma.fields.Nested(
        MedalSchema,
        allow_none=True,
        required=True,
        metadata={"description": "The medal not held that is closest to being earned"},
    )
    unread = ma.fields.Integer(required=True, metadata={"description": "Unread notifications"})
    campaigns = ma.fields.List(
        ma.fields.Nested(CampaignSchema),
        required=True,
        metadata={"description": "Campaigns open now, newest first"},
    )
