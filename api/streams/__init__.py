"""The live event stream, ``GET /v1/me/events`` (docs/notifications.md, "Live events"):
Server-Sent Events in a process of its own (aiohttp, one event loop), so that
long-lived connections never hold the gunicorn threads that answer ordinary requests.
``rewards-engine serve`` starts it beside the API (``rewards-engine streams`` alone);
``server.py`` is the HTTP side, ``rewards_engine.services.notifications.live`` the
signal, the reads and the per-donor slots."""
