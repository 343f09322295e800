"""Event generators: the clickstream demo, gaming rounds, and any module from its config alone.

Deterministic for a given seed, so tests can regenerate exactly the events they sent and compute expected
numbers independently. Customers browse product groups with fixed probabilities (some groups are far more
popular), then products of that group, sometimes add to cart and sometimes buy.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from strix_config import ModuleConfig
from strix_config.model import EventField

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


def daily_shape(moment: datetime) -> float:
    """How busy the store is at `moment` against its daily average: 0.4 at 04:00 UTC up to 1.6 at 16:00 (a day
    averages 1). The demo's history and its live stream follow this one curve, so a day compares with the day
    before and the week before within a few per cent, and an hourly line has a day's rhythm."""
    hours = moment.hour + moment.minute / 60 + moment.second / 3600
    return 1 + 0.6 * math.sin(2 * math.pi * (hours - 10) / 24)


def clickstream_history(
    rng: random.Random, rate: float, start: datetime, end: datetime, customers: int = 500
) -> Iterator[list[dict[str, Any]]]:
    """`rate` events a second on average over [start, end), shaped by `daily_shape`, one hour at a time and the
    newest hour first (the last day is queryable first). Lazy: eight days at a few events a second are a million
    events, which would not sit in memory as dicts."""
    hour_end = end
    while hour_end > start:
        hour_start = max(start, hour_end - timedelta(hours=1))
        seconds = (hour_end - hour_start).total_seconds()
        expected = rate * seconds * daily_shape(hour_start + (hour_end - hour_start) / 2)
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if count:
            yield clickstream_events(rng, count, hour_start, hour_end, customers)
        hour_end = hour_start


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


@dataclass(frozen=True)
class _Draw:
    """What drawing one value needs besides the field: the random source, the time span, the vocabulary size."""

    rng: random.Random
    start: datetime
    end: datetime
    cardinality: int


def _instant(d: _Draw, name: str, spec: EventField) -> Any:
    return _iso(_moment(d.rng, d.start, d.end))


def _text(d: _Draw, name: str, spec: EventField) -> Any:
    return f"{name[:3]}{d.rng.randrange(d.cardinality)}"[: spec.max_length or 12]


def _flag(d: _Draw, name: str, spec: EventField) -> Any:
    return d.rng.random() < 0.5


def _integer(d: _Draw, name: str, spec: EventField) -> Any:
    low = int(spec.min) if spec.min is not None else 0
    high = int(spec.max) if spec.max is not None else low + 1000
    return d.rng.randint(low, high)


def _bounded(d: _Draw, spec: EventField, digits: int) -> Decimal:
    lowest = spec.min if spec.min is not None else 0.0
    highest = spec.max if spec.max is not None else lowest + 500.0
    value = Decimal(str(round(d.rng.uniform(lowest, highest), digits)))
    return min(max(value, Decimal(str(lowest))), Decimal(str(highest)))


def _fixed_point(d: _Draw, name: str, spec: EventField) -> Any:
    return str(_bounded(d, spec, spec.scale))  # exact digits, as a client sends money


def _floating(d: _Draw, name: str, spec: EventField) -> Any:
    return float(_bounded(d, spec, 3))


def _unique(d: _Draw, name: str, spec: EventField) -> Any:
    return _uuid(d.rng) if spec.type_spec.text else d.rng.getrandbits(62)


# A value of each field type (strix_config.fieldtypes), drawn within the field's bounds; a test holds the keys
# equal to the field type table's.
DRAWS: dict[str, Callable[[_Draw, str, EventField], Any]] = {
    "string": _text,
    "int": _integer,
    "float": _floating,
    "decimal": _fixed_point,
    "bool": _flag,
    "datetime": _instant,
}


def config_events(
    rng: random.Random, config: ModuleConfig, count: int, start: datetime, end: datetime, cardinality: int = 12
) -> list[dict[str, Any]]:
    """Events for any module, from its config alone: allowed values are picked, other values drawn from small
    vocabularies so that groups repeat, numbers within their declared bounds."""
    draw = _Draw(rng, start, end, cardinality)
    events = []
    for _ in range(count):
        event: dict[str, Any] = {}
        for name, spec in config.event.fields.items():
            if not spec.required and rng.random() < 0.2:
                continue
            if name == config.event.id_field:
                event[name] = _unique(draw, name, spec)
            elif spec.allowed and name != config.event.time_field:
                event[name] = rng.choice(spec.allowed)
            else:
                event[name] = DRAWS[spec.type](draw, name, spec)
        events.append(event)
    return events
