"""Path converters: a path id must fit its column and text must be storable, or the
route does not match (404), rather than failing in the database driver."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, UnicodeConverter

from rewards_engine.domain.ids import INT32_MAX, INT64_MAX


class Int32Converter(IntegerConverter):
    """``<int:...>``: an id of a 32-bit key. A larger number names nothing: 404, not an
    overflow in the database driver."""

    MAX = INT32_MAX

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", self.MAX)
        super().__init__(url_map, *args, **kwargs)


class Int64Converter(Int32Converter):
    """``<id64:...>``: an id of a 64-bit key (clips, redemptions, payout items)."""

    MAX = INT64_MAX


class TextConverter(UnicodeConverter):
    """A path segment without NUL (no database stores it): otherwise no route matches."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, *args, **kwargs)
        self.regex = "[^/\x00]" + self.regex.removeprefix("[^/]")
