"""The one place that wires the engine together: who hears committed transactions,
which payout rails are configured, where videos are stored, which phone platforms are
pushed to. Every process (the API, the CLI, the scheduler, the tests and the
benchmarks) gets its runtime here, so that ``runtime.py`` stays a plain container that
knows no use case, and no use case builds its own providers.
"""

from __future__ import annotations

from collections.abc import Mapping

from rewards_engine.clock import Clock, SystemClock
from rewards_engine.config import Settings
from rewards_engine.crypto import Vault
from rewards_engine.providers.gift_cards import GiftCardOrders
from rewards_engine.providers.payouts import PayoutProvider
from rewards_engine.providers.push import PushSender, configured_senders
from rewards_engine.providers.storage import VideoStore, open_store
from rewards_engine.runtime import Runtime, manual_rail_only
from rewards_engine.services import wall
from rewards_engine.services.notifications import live


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """A runtime whose commits reach the Honor Wall at once (the wall-drain job retries
    what does not) and the live streams (a signal in Redis), and whose payouts and pushes
    go through the configured rails and platforms."""
    runtime = Runtime(
        settings,
        clock=clock or SystemClock(),
        commit_preparers=(wall.prepare_events,),
        commit_handlers=(wall.handle_events,),
        payout_rails=configured_rails,
        video_stores=configured_store,
        push_platforms=configured_push_senders,
        gift_card_providers=configured_gift_card_providers,
    )
    live.attach(runtime)  # its committed notifications wake the live streams
    return runtime


def configured_gift_card_providers(settings: Settings) -> Mapping[str, GiftCardOrders]:
    """Tremendous where it has an API key and a funding source; otherwise none."""
    if not settings.tremendous.configured:
        return {}
    from rewards_engine.providers.tremendous import TremendousOrders

    return {"tremendous": TremendousOrders(settings.tremendous)}


def configured_rails(settings: Settings) -> Mapping[str, PayoutProvider]:
    """PayPal and Stripe where they have credentials; the manual rail always."""
    from rewards_engine.providers.paypal import PayPalProvider  # its SDK loads slowly
    from rewards_engine.providers.stripe_payouts import StripeProvider

    rails = dict(manual_rail_only(settings))
    if settings.paypal.configured:
        rails["paypal"] = PayPalProvider(settings.paypal)
    if settings.stripe.configured:
        rails["stripe"] = StripeProvider(settings.stripe)
    return rails


def configured_store(settings: Settings, clock: Clock) -> VideoStore:
    """The video store ``STORAGE_URL`` names (default: a folder of the instance, whose
    upload URLs this server receives and signs with a key derived from the first of
    ``ENCRYPTION_KEYS``)."""
    return open_store(
        settings.uploads.storage_url,
        instance_dir=settings.instance_dir,
        secret=Vault(settings.encryption_keys).derived_key("video upload urls"),
        public_url=settings.public_url,
        clock=clock,
    )


def configured_push_senders(settings: Settings) -> Mapping[str, PushSender]:
    """FCM where ``FCM_SERVICE_ACCOUNT_FILE`` names its account, APNs where its key is
    set (``APNS_KEY_FILE``, ``APNS_KEY_ID``, ``APNS_TEAM_ID``); neither: push is off."""
    return configured_senders(settings.push)
