"""The suite-wide guard against table rows reaching the API's schemas works."""

from __future__ import annotations

import marshmallow as ma
import pytest

from rewards_engine.models import Campaign
from rewards_engine.services.campaigns import CampaignView
from tests.support.result_types import RowReachedTheApi


class NameSchema(ma.Schema):
    name = ma.fields.String()


def test_a_table_row_is_refused_alone_and_in_a_list() -> None:
    row = Campaign(id="c", name="row", incident_types=[])
    with pytest.raises(RowReachedTheApi, match="NameSchema was handed a Campaign"):
        NameSchema().dump(row)
    with pytest.raises(RowReachedTheApi):
        NameSchema(many=True).dump([row])


def test_a_result_type_passes() -> None:
    fields = dict.fromkeys(CampaignView.__dataclass_fields__)
    view = CampaignView(**{**fields, "name": "view"})
    assert NameSchema().dump(view) == {"name": "view"}
