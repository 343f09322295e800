"""Event generators: the clickstream demo, gaming rounds, and any module from its config alone.

Deterministic for a given seed, so tests can regenerate exactly the events they sent and compute expected
numbers independently. Customers browse product groups with fixed probabilities (some groups are far more
popular), then products of that group, sometimes add to cart and sometimes buy.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from strix_config import ModuleConfig

PRODUCT_GROUPS: dict[str, float] = {
    "books": 0.30,
    "electronics": 0.22,
    "games": 0.18,
    "garden": 0.10,
    "kitchen": 0.08,
    "sports": 0.07,
    "toys": 0.05,
}
COUNTRIES = ["FI", "SE", "DE", "FR", "US", "JP", "BR", "IN"]
DEVICES = ["desktop", "mobile", "tablet"]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span_ms = int((end - start).total_seconds() * 1000)
    return start + timedelta(milliseconds=rng.randrange(max(span_ms, 1)))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def clickstream_events(
    rng: random.Random, count: int, start: datetime, end: datetime, customers: int = 500, products_per_group: int = 40
) -> list[dict[str, Any]]:
    groups, weights = list(PRODUCT_GROUPS), list(PRODUCT_GROUPS.values())
    events = []
    for _ in range(count):
        customer = rng.randrange(customers)
        group = rng.choices(groups, weights)[0]
        roll = rng.random()
        action = "view" if roll < 0.80 else "add_to_cart" if roll < 0.94 else "purchase"
        event: dict[str, Any] = {
            "event_id": _uuid(rng),
            "ts": _iso(_moment(rng, start, end)),
            "customer_id": f"c{customer:05d}",
            "session_id": f"s{customer:05d}-{rng.randrange(4)}",
            "action": action,
            "product_group": group,
            "product_id": f"{group[:3]}-{rng.randrange(products_per_group):04d}",
            "country": COUNTRIES[customer % len(COUNTRIES)],
            "price": str(Decimal(rng.randrange(99, 25000)) / 100),
        }
        if rng.random() < 0.7:
            event["device"] = DEVICES[customer % 3]
        if action != "view":
            event["quantity"] = rng.randrange(1, 4)
        events.append(event)
    return events


def gaming_events(
    rng: random.Random, count: int, start: datetime, end: datetime, players: int = 300
) -> list[dict[str, Any]]:
    games = ["blackjack", "roulette", "slots_gold", "slots_jungle", "poker"]
    events = []
    for _ in range(count):
        player = rng.randrange(players)
        bet = Decimal(rng.randrange(10, 10000)) / 100
        reward_type = rng.choices(["none", "cash", "free_spins", "bonus"], [0.6, 0.3, 0.06, 0.04])[0]
        reward = (
            (bet * Decimal(rng.randrange(0, 400)) / 100).quantize(Decimal("0.01"))
            if reward_type != "none"
            else Decimal("0.00")
        )
        event: dict[str, Any] = {
            "round_id": _uuid(rng),
            "ts": _iso(_moment(rng, start, end)),
            "game": rng.choice(games),
            "seed_id": rng.randrange(1, 20) * 1_000_000_007,
            "player_id": f"p{player:05d}",
            "operator": ["north", "south", "east"][player % 3],
            "reward_type": reward_type,
            "currency": ["EUR", "USD", "GBP"][player % 3],
            "bet": float(bet) if rng.random() < 0.5 else str(bet),
            "reward": str(reward),
        }
        if rng.random() < 0.9:
            event["duration_ms"] = rng.randrange(200, 60_000)
        events.append(event)
    return events


def campaign_events(rng: random.Random, count: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Ad-network reports for the clickstream's product groups and countries (some pairs never advertised)."""
    events = []
    for _ in range(count):
        group = rng.choice(list(PRODUCT_GROUPS)[:5])
        impressions = rng.randrange(100, 20_000)
        events.append(
            {
                "ts": _iso(_moment(rng, start, end)),
                "campaign_id": f"cmp-{group[:3]}-{rng.randrange(3)}",
                "channel": rng.choice(["search", "social", "display", "email"]),
                "product_group": group,
                "country": rng.choice([*COUNTRIES[:6], "NO"]),  # the store does not sell in Norway yet
                "impressions": impressions,
                "clicks": rng.randrange(0, impressions // 20 + 1),
                "spend": str(Decimal(rng.randrange(100, 50_000)) / 100),
            }
        )
    return events


def config_events(
    rng: random.Random, config: ModuleConfig, count: int, start: datetime, end: datetime, cardinality: int = 12
) -> list[dict[str, Any]]:
    """Events for any module, from its config alone: allowed values are picked, other values drawn from small
    vocabularies so that groups repeat, numbers within their declared bounds."""
    events = []
    for _ in range(count):
        event: dict[str, Any] = {}
        for name, spec in config.event.fields.items():
            if not spec.required and rng.random() < 0.2:
                continue
            if name == config.event.id_field:
                event[name] = _uuid(rng) if spec.type == "string" else rng.getrandbits(62)
            elif spec.type == "datetime":
                event[name] = _iso(_moment(rng, start, end))
            elif spec.allowed:
                event[name] = rng.choice(spec.allowed)
            elif spec.type == "string":
                length = spec.max_length or 12
                event[name] = f"{name[:3]}{rng.randrange(cardinality)}"[:length]
            elif spec.type == "bool":
                event[name] = rng.random() < 0.5
            elif spec.type == "int":
                low = int(spec.min) if spec.min is not None else 0
                high = int(spec.max) if spec.max is not None else low + 1000
                event[name] = rng.randint(low, high)
            else:
                lowest = spec.min if spec.min is not None else 0.0
                highest = spec.max if spec.max is not None else lowest + 500.0
                value = Decimal(str(round(rng.uniform(lowest, highest), spec.scale if spec.type == "decimal" else 3)))
                value = min(max(value, Decimal(str(lowest))), Decimal(str(highest)))
                event[name] = str(value) if spec.type == "decimal" else float(value)
        events.append(event)
    return events
