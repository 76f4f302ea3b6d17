"""Consent: which text is current, which version each donor holds, and every grant
and withdrawal."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ScalarSelect, Select, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, lock_keys, retry_on_contention, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.domain.languages import DEFAULT_LANGUAGE, localised, validate_translations
from rewards_engine.domain.notifications import Kind
from rewards_engine.models import ConsentRecord, ConsentVersion, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, notifications

TRANSLATED = ("title", "summary", "body")


@dataclass(frozen=True)
class ConsentText:
    """A published consent text."""

    version: str
    title: str
    summary: str
    body: str
    published_at: datetime


@dataclass(frozen=True)
class ConsentEvent:
    """One grant or withdrawal in a donor's consent history."""

    version: str
    action: str  # grant | withdraw
    created_at: datetime


def _newest_published(what: Any, now: datetime | BindParameter[datetime]) -> Select[Any]:
    """``what`` of the newest published consent text (a future one is not current yet)."""
    return (
        select(what)
        .where(col(ConsentVersion.published_at) <= now)
        .order_by(col(ConsentVersion.published_at).desc())
        .limit(1)
    )


def current_version(session: Session, now: datetime) -> ConsentVersion | None:
    """The newest published consent text."""
    return session.scalars(_newest_published(ConsentVersion, now)).first()


def get_current(db: Database, clock: Clock, language: str = DEFAULT_LANGUAGE) -> ConsentText:
    """The current consent text, in ``language`` where it was translated (the English
    one is what a grant refers to; a translation renders it)."""
    with db.read() as session:
        version = current_version(session, clock.now())
        if version is None:
            raise NotFound("no consent text is published yet", code="consent_not_published")
        text = row_view(ConsentText, version)
        english = {"title": text.title, "summary": text.summary, "body": text.body}
        return replace(text, **localised(english, version.translations, language))


def current_version_name(now: BindParameter[datetime]) -> ScalarSelect[str]:
    """The current version's name as a scalar subquery, for a use case that reads the
    donor anyway to take it in that same statement (a submission: one round trip)."""
    return _newest_published(col(ConsentVersion.version), now).scalar_subquery()


def require_current(donor: Donor, given_version: str, current: str | None) -> None:
    """A donation needs the current consent (``current``, the version read with
    ``current_version_name``), both as sent and as held by the donor."""
    if current is None:
        raise Conflict("no consent text is published yet", code="consent_not_published")
    if given_version != current:
        raise Conflict(
            f"consent version {given_version!r} is not current; the current one is "
            f"{current!r}: show it to the donor and grant it",
            code="consent_outdated",
            details={"current_version": current},
        )
    if donor.consent_withdrawn_at is not None:
        raise Conflict(
            "the donor withdrew consent; no clip is accepted until they grant it again",
            code="consent_withdrawn",
            details={"current_version": current},
        )
    if donor.consent_version != current:
        raise Conflict(
            f"the donor has not granted consent version {current!r}",
            code="consent_required",
            details={"current_version": current},
        )


@retry_on_contention
def grant(db: Database, clock: Clock, donor_id: int, version: str) -> None:
    """Record that the donor grants ``version``, which must be the current one."""
    now = clock.now()
    with db.transaction() as uow:
        current = current_version(uow.session, now)
        if current is None or version != current.version:
            raise InvalidInput(
                f"only the current consent version ({current.version if current else 'none'}) "
                f"can be granted",
                code="consent_outdated",
                field="version",
            )
        donor = uow.session.get(Donor, donor_id, with_for_update=True)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        if donor.consent_version != version:
            uow.session.add(
                ConsentRecord(donor_id=donor_id, version=version, action="grant", created_at=now)
            )
            donor.consent_version = version
            donor.consent_withdrawn_at = None
            donor.updated_at = now
            uow.publish(DonorChanged(donor_id))


@retry_on_contention
def withdraw_consent(db: Database, clock: Clock, donor_id: int) -> None:
    """Withdraw consent: no new clip is accepted and the donor's clips leave the
    training set (granting again brings them back). Recorded with its version."""
    now = clock.now()
    with db.transaction() as uow:
        donor = uow.session.get(Donor, donor_id, with_for_update=True)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        if donor.consent_version is not None:
            uow.session.add(
                ConsentRecord(
                    donor_id=donor_id,
                    version=donor.consent_version,
                    action="withdraw",
                    created_at=now,
                )
            )
            donor.consent_version = None
            donor.consent_withdrawn_at = now
            donor.updated_at = now
            uow.publish(DonorChanged(donor_id))


def publish_consent(runtime: Runtime, actor: Actor, values: dict[str, Any]) -> ConsentText:
    """A new consent text; it becomes current at ``published_at`` (now by default), and
    donors must grant it before donating again."""
    now = runtime.clock.now()
    published_at = values.get("published_at") or now
    with runtime.db.transaction() as uow:
        lock_keys(uow.session, "consent-version", [""])  # one publication at a time
        if uow.session.get(ConsentVersion, values["version"]) is not None:
            raise Conflict(
                f"consent version {values['version']!r} exists; versions are never edited",
                code="consent_version_exists",
            )
        current = current_version(uow.session, now)
        if current is not None and published_at < current.published_at:
            raise InvalidInput(
                "a new version cannot be published before the current one",
                field="published_at",
            )
        version = ConsentVersion(
            version=values["version"],
            title=values["title"],
            summary=values.get("summary", ""),
            body=values["body"],
            published_at=published_at,
            translations=validate_translations(values.get("translations"), TRANSLATED),
        )
        uow.session.add(version)
        notifications.broadcast(uow.session, now, Kind.CONSENT_CHANGED,
                                {"version": values["version"]})  # fmt: skip
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action="consent.published",
            target_type="consent_version",
            target_id=values["version"],
            after={"title": values["title"], "published_at": published_at.isoformat()},
        )
        return row_view(ConsentText, version)


def consent_history(db: Database, donor_id: int) -> list[ConsentEvent]:
    with db.read() as session:
        return [
            row_view(ConsentEvent, row)
            for row in session.scalars(
                select(ConsentRecord)
                .where(col(ConsentRecord.donor_id) == donor_id)
                .order_by(col(ConsentRecord.id))
            )
        ]
