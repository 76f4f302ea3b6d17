"""ISO 4217: the currencies money may be held, paid and priced in.

The active codes of circulating currencies (ISO 4217 list one, as amended to 2025),
as data. Left out on purpose: fund and accounting codes (BOV, CHE, CHW, CLF, COU,
MXV, USN, UYI, UYW, XDR, XSU, XUA), precious metals (XAU, XAG, XPD, XPT), the test
and "no currency" codes (XTS, XXX, XBA-XBD) and withdrawn codes (HRK, SLL, CUC, ...).
Nobody is paid in those, and a typo such as ``ZZZ`` must not open a balance.
Update this list when ISO 4217 amends it.
"""

from __future__ import annotations

from rewards_engine.domain.errors import InvalidInput

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ACTIVE_CURRENCIES: frozenset[str] = frozenset(_CODES.split())


def validate_currency(raw: object, field: str = "currency") -> str:
    """An active ISO 4217 code (``USD``), or :class:`InvalidInput` naming ``field``."""
    if not isinstance(raw, str) or raw not in ACTIVE_CURRENCIES:
        raise InvalidInput(
            f"{field} is an active ISO 4217 currency code such as USD or EUR",
            code="invalid_currency",
            field=field,
        )
    return raw
