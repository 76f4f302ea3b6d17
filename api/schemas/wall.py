from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import StrictSchema
from rewards_engine.services.wall import MAX_AROUND

BOARD_HELP = "all-time, campaign:{id}, month:YYYY-MM or week:YYYY-Www (ISO week, UTC)"


class WallQuery(StrictSchema):
    board = ma.fields.String(
        load_default="all-time",
        validate=ma.validate.Length(max=80),
        metadata={"description": BOARD_HELP},
    )
    limit = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))


class WallMeQuery(StrictSchema):
    board = ma.fields.String(
        load_default="all-time",
        validate=ma.validate.Length(max=80),
        metadata={"description": BOARD_HELP},
    )
    around = ma.fields.Integer(
        load_default=3,
        validate=ma.validate.Range(min=0, max=MAX_AROUND),
        metadata={"description": "Entries shown above and below the donor"},
    )


class BoardSchema(ma.Schema):
    name = ma.fields.String(required=True)
    kind = ma.fields.String(
        required=True, metadata={"enum": ["all-time", "campaign", "month", "week"]}
    )
    window_start = ma.fields.AwareDateTime(required=True, attribute="start")
    window_end = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        attribute="end",
        metadata={"description": "Exclusive; null for boards that never close"},
    )
    next_reset = ma.fields.Function(
        lambda board: board.end.isoformat() if board.end else None,
        metadata={
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "When the next period board starts (UTC); null if never",
        },
    )


class WallEntrySchema(ma.Schema):
    rank = ma.fields.Integer(required=True, metadata={"description": "Competition rank: 1, 1, 3"})
    name = ma.fields.String(required=True, metadata={"description": "Display name or pseudonym"})
    clips = ma.fields.Integer(required=True, metadata={"description": "Accepted clips counted"})
    medals = ma.fields.Integer(required=True)
    is_me = ma.fields.Boolean(required=True)


def entries_field() -> ma.fields.Field[Any]:
    """Wall entries, written as they are: these are the hottest reads of the API, and
    marshmallow's field-by-field dump of 25 nested entries costs more than the Redis
    reads. The OpenAPI document still describes each entry (``WallEntry``)."""
    return ma.fields.Function(
        lambda page: [vars(entry) for entry in page.entries],
        required=True,
        metadata={"type": "array", "items": {"$ref": "#/components/schemas/WallEntry"}},
    )


class WallPageSchema(ma.Schema):
    board = ma.fields.Nested(BoardSchema, required=True)
    archived = ma.fields.Boolean(
        required=True, metadata={"description": "True when read from a closed period's archive"}
    )
    ranked_donors = ma.fields.Integer(required=True, metadata={"description": "Donors shown"})
    server_time = ma.fields.AwareDateTime(required=True)
    entries = entries_field()
    next_cursor = ma.fields.String(allow_none=True, required=True)


class WallStandingSchema(ma.Schema):
    board = ma.fields.Nested(BoardSchema, required=True)
    ranked_donors = ma.fields.Integer(required=True)
    server_time = ma.fields.AwareDateTime(required=True)
    state = ma.fields.String(
        required=True,
        metadata={
            "enum": ["ranked", "hidden", "under_review", "unranked"],
            "description": "hidden: you chose not to be shown; your rank is where you would stand",
        },
    )
    rank = ma.fields.Integer(allow_none=True, required=True)
    clips = ma.fields.Integer(required=True)
    percentile = ma.fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "Share of ranked donors at or below you, in percent"},
    )
    clips_to_pass_next = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Clips to pass the donor listed just above; null at the top"},
    )
    entries = entries_field()

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written by hand: the donor's own standing is the hottest
        authenticated read, and marshmallow's field-by-field dump was a tenth of it.
        tests/api/test_wall.py holds this equal to what the fields dump."""
        if many:
            return [self.dump(one) for one in obj]
        board = obj.board
        return {
            "board": {
                "name": board.name,
                "kind": str(board.kind),
                "window_start": board.start.isoformat(),
                "window_end": board.end.isoformat() if board.end else None,
                "next_reset": board.end.isoformat() if board.end else None,
            },
            "ranked_donors": obj.ranked_donors,
            "server_time": obj.server_time.isoformat(),
            "state": obj.state,
            "rank": obj.rank,
            "clips": obj.clips,
            "percentile": None if obj.percentile is None else float(obj.percentile),
            "clips_to_pass_next": obj.clips_to_pass_next,
            "entries": [vars(entry) for entry in obj.entries],
        }
