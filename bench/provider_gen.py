"""Synthetic credit providers, shared by the benches (bench_matching.py, seed_scale.py): a realistic
spread of 25 lending currencies weighted by market size, 1-4 countries of the currency, type-dependent
grades, scores, DTI ceilings, rates, limits and terms, capital from exhausted to deep, a decision
history, 8% suspended. Rows are in ``COLUMNS`` order, for ``copy_records_to_table``."""

import json
import random
import secrets
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# currency: (countries, market weight, units of the currency in one USD, rounded)
MARKETS: dict[str, tuple[list[str], int, int]] = {
    "NGN": (["NG"], 18, 1500),
    "KES": (["KE"], 10, 130),
    "ZAR": (["ZA"], 8, 18),
    "XOF": (["SN", "CI", "BJ", "TG", "BF", "ML", "NE", "GW"], 8, 600),
    "GHS": (["GH"], 7, 15),
    "EGP": (["EG"], 6, 50),
    "USD": (["US", "LR", "ZW", "EC", "SV"], 5, 1),
    "EUR": (["FR", "DE", "ES", "IT", "PT", "BE", "NL", "IE"], 5, 1),
    "INR": (["IN"], 4, 85),
    "XAF": (["CM", "GA", "CG", "TD", "CF", "GQ"], 4, 600),
    "UGX": (["UG"], 4, 3700),
    "TZS": (["TZ"], 4, 2600),
    "ETB": (["ET"], 3, 120),
    "MAD": (["MA"], 3, 10),
    "GBP": (["GB"], 3, 1),
    "RWF": (["RW"], 2, 1400),
    "ZMW": (["ZM"], 2, 27),
    "MWK": (["MW"], 1, 1700),
    "MZN": (["MZ"], 1, 64),
    "MUR": (["MU"], 1, 46),
    "BWP": (["BW"], 1, 14),
    "NAD": (["NA"], 1, 18),
    "TND": (["TN"], 1, 3),
    "DZD": (["DZ"], 1, 135),
    "CDF": (["CD"], 1, 2800),
}
EXPONENT = {"UGX": 0, "RWF": 0, "XOF": 0, "XAF": 0, "TND": 3}  # the rest have 2 decimals
# type: (weight, grade sets, min score range, max DTI choices, min annual rate range)
TYPES = {
    "bank": (15, ["AB", "ABC"], (600, 700), ("0.35", "0.40", "0.45"), (0.10, 0.22)),
    "fintech": (35, ["ABC", "ABCD", "BCD"], (520, 650), ("0.40", "0.45", "0.50"), (0.18, 0.40)),
    "microfinance": (30, ["BCDE", "CDE", "ABCDE"], (400, 560), ("0.45", "0.50", "0.55"), (0.28, 0.70)),
    "p2p_lending": (20, ["ABCDE", "ABC", "BCDE"], (300, 600), ("0.40", "0.50", "0.60"), (0.15, 0.50)),
}
COLUMNS = [
    "id",
    "name",
    "provider_type",
    "status",
    "suspended_reason",
    "suspended_at",
    "suspended_by",
    "currency",
    "countries",
    "accepted_grades",
    "min_score",
    "max_dti",
    "min_term_months",
    "max_term_months",
    "min_amount_minor",
    "max_amount_minor",
    "capital_available_minor",
    "min_annual_rate",
    "max_annual_rate",
    "commission_plan",
    "webhook_url",
    "webhook_secret_encrypted",
    "decided_count",
    "approved_count",
    "created_by",
]
PLAN = json.dumps({"principal_rate": "0.085", "tiers": [], "caps": [], "interest_share": "0"})


def minor(currency: str, usd: float) -> int:
    return int(usd * MARKETS[currency][2] * 10 ** EXPONENT.get(currency, 2))


def provider(rnd: random.Random, n: int) -> tuple[Any, ...]:
    currency = rnd.choices(list(MARKETS), [m[1] for m in MARKETS.values()])[0]
    countries = MARKETS[currency][0]
    served = rnd.sample(countries, min(len(countries), rnd.choice([1, 1, 2, 3, 4])))
    kind = rnd.choices(list(TYPES), [t[0] for t in TYPES.values()])[0]
    _, grade_sets, score_range, dtis, rate_range = TYPES[kind]
    min_usd = rnd.choice([20, 50, 100, 500, 1000, 5000])
    max_usd = min_usd * rnd.choice([10, 20, 50, 100, 500])
    capital_usd = rnd.choice([0, 0.5, 1, 5, 20, 100, 1000]) * max_usd
    min_term = rnd.choice([1, 3, 6, 12])
    max_term = max(min_term, rnd.choice([6, 12, 24, 36, 60, 120]))
    min_rate = round(rnd.uniform(*rate_range), 4)
    max_rate = round(min_rate + rnd.choice([0.04, 0.08, 0.12, 0.2]), 4)
    decided = rnd.choice([0, 0, 5, 40, 200, 1000])
    suspended = rnd.random() < 0.08
    held = ("bench", datetime.now(UTC), "bench") if suspended else (None, None, None)
    return (
        uuid.UUID(int=rnd.getrandbits(128), version=4),
        f"Bench {kind} {n}",
        kind,
        "suspended" if suspended else "active",
        *held,
        currency,
        served,
        list(rnd.choice(grade_sets)),
        rnd.randint(*score_range),
        Decimal(rnd.choice(dtis)),
        min_term,
        max_term,
        minor(currency, min_usd),
        minor(currency, max_usd),
        int(minor(currency, 1) * capital_usd),
        Decimal(str(min_rate)),
        Decimal(str(max_rate)),
        PLAN,
        f"https://p{n}.example.com/hook",
        secrets.token_bytes(60),
        decided,
        int(decided * rnd.uniform(0.2, 0.9)),
        "bench",
    )
