"""A donor's journey through the Python client generated from the running server's own
OpenAPI document (issue 22, item 5): every answer, errors included, parses to its
typed model. Real HTTP to ``rewards-engine serve``."""

from __future__ import annotations

import importlib
import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rewards_engine.runtime import Runtime
from tests.conftest import make_token
from tests.contract.tools import generate_python_client, operation, write_document
from tests.support.factories import CONSENT, add_campaign, clip
from tests.support.processes import api_nodes


def test_a_donor_journey_through_the_generated_python_client(
    live: Runtime, cli_env: Any, tmp_path: Path
) -> None:
    campaign = add_campaign(live, requires_upload=False)
    with api_nodes(1) as [base]:
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as answer:
            document = write_document(json.load(answer), tmp_path)
        package, _ = generate_python_client(document, tmp_path)
        models = importlib.import_module(f"{package.__name__}.models")

        def client(subject: str, role: str = "donor") -> Any:
            token = make_token(cli_env, subject, role)
            return package.AuthenticatedClient(base_url=base, token=token, timeout=30)

        def call(operation_id: str, status: int, model: str, **arguments: Any) -> Any:
            """Call an operation; its answer has this status and parsed to this model."""
            answer = operation(package, operation_id).sync_detailed(**arguments)
            said = answer.content[:500]
            assert answer.status_code == status, (operation_id, answer.status_code, said)
            assert isinstance(answer.parsed, getattr(models, model)), (operation_id, said)
            return answer.parsed

        donor, agent = client("journey-donor"), client("journey-agent", "support")
        anyone = package.Client(base_url=base, timeout=30)

        consent = call("getConsentText", 200, "ConsentText", client=anyone)
        assert consent.version == CONSENT
        call("grantConsent", 200, "Me",
             client=donor, body=models.ConsentGrant(version=consent.version))  # fmt: skip

        recorded = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        request = {"campaign_id": campaign.id, "consent_version": CONSENT,
                   "clips": [clip(recorded), clip(recorded)]}  # fmt: skip
        donated = call("donateClips", 201, "SubmissionResult", client=donor,
                       body=models.SubmissionRequest.from_dict(request),
                       idempotency_key=str(uuid.uuid4()))  # fmt: skip
        assert isinstance(donated.earned, models.Earned)
        assert all(isinstance(o, models.ClipOutcome) for o in donated.clips)

        me = call("getMe", 200, "Me", client=donor)
        assert isinstance(me.balances, models.Balances) and me.payout is None
        clips = call("listSubmissions", 200, "ClipPage", client=donor)
        first = clips.items[0]
        assert isinstance(first.earned, models.ClipEarned) and isinstance(first.vested, bool)
        call("getSubmission", 200, "Clip", client=donor, clip_id=first.id)

        medals = call("getMyMedals", 200, "MedalScreen", client=donor)
        assert all(isinstance(m, models.Medal) for m in medals.medals)
        inbox = call("listMyNotifications", 200, "InboxNotificationPage", client=donor)
        assert all(isinstance(n, models.InboxNotification) for n in inbox.items)
        call("getMyWallStanding", 200, "WallStanding", client=donor)
        call("getMyHome", 200, "Home", client=donor)

        adjustment = {"asset": "points", "amount": 1000, "reason": "Welcome gift"}
        call("adminAdjustDonorBalance", 201, "Adjustment", client=agent,
             donor_id=me.id, body=models.AdjustmentRequest.from_dict(adjustment),
             idempotency_key=f"welcome-{me.id}")  # fmt: skip
        redeemed = call("redeemReward", 201, "Redemption", client=donor,
                        body=models.Redeem(reward_id="gift-card-amazon-10-usd"),
                        idempotency_key=str(uuid.uuid4()))  # fmt: skip
        assert redeemed.shipping_address is None
        call("getRedemption", 200, "Redemption", client=donor, redemption_id=redeemed.id)

        missing = call("getSubmission", 404, "Error", client=donor, clip_id=2_000_000_000)
        assert missing.error and missing.request_id
        refused = call("updateMe", 422, "Error", client=donor,
                       body=models.ProfilePatch(display_name="x"))  # fmt: skip
        assert "display_name" in refused.errors.to_dict()["json"]
        unknown = call("redeemReward", 422, "Error", client=donor,
                       body=models.Redeem(reward_id="no-such-reward"))  # fmt: skip
        assert unknown.code == 422
