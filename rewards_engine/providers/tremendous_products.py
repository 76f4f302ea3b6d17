"""Tremendous's product list (``GET /api/v2/products``): where each product can be sent
and in which currencies.

developers.tremendous.com/reference/list-products: each product has an ``id``, a
``name``, ``currency_codes`` (ISO 4217) and ``countries`` (objects whose ``abbr`` is the
ISO 3166 alpha-2 code). Read with ``requests`` (a dependency already) and the API key as
a bearer token, as every Tremendous call. A product without a usable id is skipped; a
country or currency that is not a well-formed code is dropped (the catalog compares
codes, never names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ProductsUnavailable(Exception):
    """Tremendous did not answer with its product list (timeout, 5xx, bad body)."""


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    countries: tuple[str, ...]
    currencies: tuple[str, ...]


def parse_products(body: Any) -> list[Product]:
    """The products of a ``GET /api/v2/products`` answer."""
    if not isinstance(body, dict) or not isinstance(body.get("products"), list):
        raise ProductsUnavailable("the answer has no products list")
    products = []
    for raw in body["products"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            continue
        countries = [
            str(c.get("abbr", "")).upper()
            for c in raw.get("countries") or []
            if isinstance(c, dict)
        ]
        currencies = [str(c).upper() for c in raw.get("currency_codes") or []]
        products.append(
            Product(
                product_id=raw["id"][:64],
                name=str(raw.get("name") or raw["id"])[:200],
                countries=tuple(sorted({c for c in countries if _COUNTRY.match(c)})),
                currencies=tuple(sorted({c for c in currencies if _CURRENCY.match(c)})),
            )
        )
    return products


def fetch_products(base_url: str, api_key: str, *, timeout_s: float = 30.0) -> list[Product]:
    """Every product the account may order (one call: the list is not paginated).
    ``base_url`` ends with ``/api/v2`` (TREMENDOUS_BASE_URL)."""
    try:
        answer = requests.get(
            f"{base_url.rstrip('/')}/products",
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise ProductsUnavailable(f"{type(exc).__name__} asking for the products") from None
    if answer.status_code != 200:
        raise ProductsUnavailable(f"HTTP {answer.status_code} asking for the products")
    try:
        return parse_products(answer.json())
    except ValueError:
        raise ProductsUnavailable("the products answer is not JSON") from None
