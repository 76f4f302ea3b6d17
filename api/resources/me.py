"""The calling donor's own profile, balances, ledger and consent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required
from api.conventions import Blueprint
from api.schemas.common import PageArgs, page_of
from api.schemas.donors import ConsentGrantSchema, ConsentTextSchema, MeSchema, ProfilePatchSchema
from api.schemas.home import HomeSchema
from api.schemas.ledger import LedgerEntrySchema
from api.schemas.privacy import DataRequestSchema
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.roles import Role
from rewards_engine.services import consents, donors, home, ledger, payouts, privacy, wall

blp = Blueprint("me", __name__, description="The calling donor's profile, balances and ledger")


@blp.route("/me")
class Me(MethodView):
    @auth_required(Role.DONOR)
    @blp.etag
    @blp.response(200, MeSchema)
    def get(self) -> Any:
        """The donor's profile, balances and all-time rank (ETag: poll with If-None-Match)"""
        return _profile()

    @auth_required(Role.DONOR)
    @blp.response(202, DataRequestSchema)
    def delete(self) -> Any:
        """Erase your account and data (carried out by the next erasure run, within
        minutes; follow it at /v1/me/data-requests/{id}). The ledger and payout records
        the law requires stay, linked to no one. This cannot be undone, by anyone."""
        return privacy.request_erasure(context.runtime(), context.donor().id, context.actor())

    @auth_required(Role.DONOR)
    @blp.arguments(ProfilePatchSchema())
    @blp.response(200, MeSchema)
    @blp.alt_response(422, description="An invalid field, or nothing to change")
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change display name, wall visibility, time zone or payout destination
        (omitted fields are kept; sending none is a 422 nothing_to_change)"""
        if not changes:  # no body, {} or a body that is not JSON: a mistake, not a no-op
            raise InvalidInput(
                "nothing to change: send at least one of display_name, visibility, "
                "timezone, locale, payout",
                code="nothing_to_change",
                field="_schema",
            )
        runtime = context.runtime()
        if "payout" in changes:
            changes["payout"] = payouts.prepare_destination(runtime, changes["payout"])
        donors.update_profile(
            runtime.db,
            runtime.clock,
            context.donor().id,
            donors.ProfileChanges(**changes),
            context.actor(),
        )
        return _profile()


def _profile() -> donors.Profile:
    runtime = context.runtime()
    donor_id = context.donor().id
    profile = donors.get_profile(runtime.db, donor_id)
    return replace(profile, all_time_rank=wall.all_time_rank(runtime, donor_id))


@blp.route("/me/home")
class MyHome(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, HomeSchema)
    def get(self) -> Any:
        """The home screen in one call: balances, all-time standing, the next medal and
        its progress, the unread count and the open campaigns"""
        return home.home(context.runtime(), context.donor(), context.language())


@blp.route("/me/ledger")
class MyLedger(MethodView):
    @auth_required(Role.DONOR)
    @blp.etag
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(LedgerEntrySchema))
    def get(self, args: dict[str, Any]) -> Any:
        """The donor's ledger entries, newest first"""
        return ledger.donor_entries(context.runtime().db, context.donor().id, **args)


@blp.route("/me/consent")
class MyConsent(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(ConsentGrantSchema())
    @blp.response(200, MeSchema)
    @blp.alt_response(422, description="Not the current consent version")
    def post(self, body: dict[str, Any]) -> Any:
        """Grant the current consent version (needed before donating)"""
        runtime = context.runtime()
        donor_id = context.donor().id
        consents.grant(runtime.db, runtime.clock, donor_id, body["version"])
        return _profile()

    @auth_required(Role.DONOR)
    @blp.response(200, MeSchema)
    def delete(self) -> Any:
        """Withdraw consent: no new clip is accepted (409 consent_withdrawn) and your clips
        leave the training set (usage: withdrawn) until you grant consent again"""
        runtime = context.runtime()
        consents.withdraw_consent(runtime.db, runtime.clock, context.donor().id)
        return _profile()


@blp.route("/consent")
class CurrentConsent(MethodView):
    @blp.response(200, ConsentTextSchema)
    def get(self) -> Any:
        """The current consent text, to show before a donor grants it (public)"""
        runtime = context.runtime()
        return consents.get_current(runtime.db, runtime.clock, context.language())
