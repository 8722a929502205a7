"""Amounts as people read them: Stripe counts in the currency's smallest unit."""

from __future__ import annotations

# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"}
)


def format_money(amount: int | None, currency: str | None) -> str:
    """`4900, "usd"` -> "49.00 USD"; an unknown amount is "an unknown amount"."""
    if amount is None or not currency:
        return "an unknown amount"
    digits = 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2
    return f"{amount / 10**digits:,.{digits}f} {currency.upper()}"
