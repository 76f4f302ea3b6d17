"""The blueprints of the API, registered in one place."""

from __future__ import annotations

from flask_smorest import Api

from api.resources import (
    admin,
    approvals,
    cameras,
    campaigns,
    devices,
    fraud,
    gift_cards,
    health,
    intake,
    me,
    medals,
    notifications,
    payouts,
    privacy,
    rewards,
    sessions,
    staff_roles,
    storage,
    submissions,
    uploads,
    videos,
    wall,
)


def register_blueprints(api: Api) -> None:
    for module in (
        me,
        cameras,
        privacy,
        campaigns,
        submissions,
        uploads,
        intake,
        wall,
        medals,
        notifications,
        devices,
        rewards,
        gift_cards,
        payouts,
        admin,
        approvals,
        fraud,
        sessions,
        staff_roles,
        storage,
        videos,
    ):
        api.register_blueprint(module.blp, url_prefix="/v1")
    health.register(api)
    wall.register_schemas(api)
