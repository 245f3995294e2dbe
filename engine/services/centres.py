"""The centre finder: centres with address, opening hours and expected lead time, nearest first."""

from __future__ import annotations

import csv
import math
import re
import statistics
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.errors import InvalidInput, NotFound
from engine.process.stages import StageTable, shipped
from engine.services import stage_tables
from engine.store.model import Centre, CentreLocation, Rma, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from engine.config import Settings
    from engine.orchestrator import Orchestrator

PLACES_FILE = Path(__file__).resolve().parent.parent / "data" / "places.csv"
EARTH_RADIUS_KM = 6371.0088
POSTCODE_LENGTH = {"SG": 6, "DE": 5}
LEAD_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class Place:
    country: str
    latitude: float
    longitude: float
    label: str


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _fold(text: str) -> str:
    text = " ".join((text or "").split()).casefold()
    return text


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _places() -> tuple[dict, dict]:
    cities: dict[str, Place] = {}
    postcodes: dict[tuple[str, str], Place] = {}
    with PLACES_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            place = Place(row["country"], float(row["latitude"]), float(row["longitude"]), row["label"])
            if row["kind"] == "city":
                cities.setdefault(_fold(row["key"]), place)
                cities.setdefault(_ascii(_fold(row["key"])), place)
            else:
                postcodes[(row["country"], row["key"])] = place
    return cities, postcodes


def locate(query: str) -> Place | None:
    """Coordinates for a city name or a postcode (the demo centres' countries: SG, DE)."""
    text = _fold(query)
    if not text:
        return None
    cities, postcodes = _places()
    digits = re.sub(r"\s", "", text)
    if digits.isdigit():
        for country, length in POSTCODE_LENGTH.items():
            if len(digits) == length:
                for prefix in (digits[:2], digits[:1]):
                    if (country, prefix) in postcodes:
                        return postcodes[(country, prefix)]
        return None
    text = re.sub(r"^\d+\s+", "", text)  # "10117 berlin" -> "berlin"
    return cities.get(text) or cities.get(_ascii(text))


def lead_time(
    session: Session, centre: Centre, now: datetime, settings: Settings, stages: StageTable | None = None
) -> dict:
    """Expected days from the unit's arrival to its return at this centre, as a range with its basis.

    `stages`: the stage table of the centre's process version: its steps from the first (default: the shipped)."""
    try:
        from engine.customer import estimates, eta
    except ImportError:  # the ETA feature is optional: fall back to closed RMAs' durations
        estimates = eta = None  # type: ignore[assignment]  # mypy's way with an optional import
    if eta is not None:
        eta_settings = eta.EtaSettings.of(settings)
        history = estimates.history(session, centre.code, now, eta_settings)
        stages = stages or shipped()
        first = stages.keys[0] if stages.keys else None
        result = eta.estimate(history, eta.Situation(first, 0.0, frozenset(eta.CLASSES)), eta_settings, stages)
        return {
            "low_days": math.floor(result.low_days),
            "high_days": max(1, math.ceil(result.high_days)),
            "source": result.source,
            "samples": result.samples,
        }
    rows = session.execute(
        select(Rma.created_at, Rma.closed_at).where(
            Rma.centre_code == centre.code, Rma.closed_at >= now - LEAD_WINDOW, Rma.outcome.is_not(None)
        )
    ).all()
    days = sorted((closed - created).total_seconds() / 86400 for created, closed in rows)
    if not days:
        return {"low_days": None, "high_days": None, "source": "none", "samples": 0}
    quartiles = statistics.quantiles(days, n=4) if len(days) > 1 else [days[0]] * 3
    return {
        "low_days": math.floor(quartiles[0]),
        "high_days": max(1, math.ceil(quartiles[2])),
        "source": "history",
        "samples": len(days),
    }


def location_view(centre: Centre, location: CentreLocation) -> dict:
    return {
        "code": centre.code,
        "name": centre.name,
        "currency": centre.currency,
        "address": location.address,
        "city": location.city,
        "postcode": location.postcode,
        "country": location.country,
        "latitude": float(location.latitude),
        "longitude": float(location.longitude),
        "opening_hours": list(location.opening_hours or []),
        "phone": location.phone,
        "accepts_online": location.accepts_online,
    }


def find_centres(orc: Orchestrator, near: str | None = None) -> dict:
    """Centres accepting online requests; with `near` (a city or postcode) nearest first, with distances."""
    place = locate(near) if near else None
    now = utcnow()
    with orc.reading() as s:
        rows = s.execute(
            select(Centre, CentreLocation)
            .join(CentreLocation, CentreLocation.centre_code == Centre.code)
            .where(CentreLocation.accepts_online.is_(True))
            .order_by(Centre.code)
        ).all()
        items = []
        for centre, location in rows:
            view = location_view(centre, location)
            view["lead_time"] = lead_time(s, centre, now, orc.settings, stage_tables.of_centre(orc, s, centre.code))
            if place is not None:
                view["distance_km"] = round(
                    haversine_km(place.latitude, place.longitude, view["latitude"], view["longitude"]), 1
                )
            items.append(view)
    if place is not None:
        items.sort(key=lambda v: v["distance_km"])
    return {
        "items": items,
        "near": near or None,
        "located": {"label": place.label, "country": place.country} if place else None,
    }


def set_location(orc: Orchestrator, centre_code: str, **fields: Any) -> None:
    """Create or replace a centre's finder entry (CLI and demo data)."""
    with orc.uow() as uow:
        s = uow.session
        row = s.get(CentreLocation, centre_code) or CentreLocation(centre_code=centre_code)
        for key, value in fields.items():
            setattr(row, key, Decimal(str(value)) if key in ("latitude", "longitude") else value)
        s.add(row)
        uow.commit()


def set_customer_facing(
    orc: Orchestrator,
    centre_code: str,
    prices_include_tax: bool | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> dict:
    """What customers are told about a centre: whether its prices include tax, and how to reach it (`rma centres
    set`); None leaves a value as it is, "" removes the e-mail. Returns the centre's settings after the change."""
    with orc.uow() as uow:
        s = uow.session
        centre = s.get(Centre, centre_code)
        if centre is None:
            raise NotFound(f"no centre {centre_code}")
        if prices_include_tax is not None:
            centre.prices_include_tax = prices_include_tax
        location = s.get(CentreLocation, centre_code)
        if (email is not None or phone is not None) and location is None:
            raise InvalidInput(f"centre {centre_code} has no location yet: its address comes first")
        if location is not None and email is not None:
            location.email = email.strip() or None
        if location is not None and phone is not None:
            location.phone = phone.strip()
        result = {
            "code": centre.code,
            "prices_include_tax": centre.prices_include_tax,
            "email": location.email if location else None,
            "phone": location.phone if location else None,
        }
        uow.commit()
    return result


DEMO_LOCATIONS = {
    "SG": dict(
        address="1 Fusionopolis Way, #02-01",
        city="Singapore",
        postcode="138632",
        country="SG",
        latitude=1.2990,
        longitude=103.7873,
        phone="+65 6123 4567",
        email="service.sg@example.com",
        opening_hours=["Mon-Fri 09:00-18:00", "Sat 10:00-14:00", "Sun and public holidays closed"],
    ),
    "DE": dict(
        address="Friedrichstrasse 120",
        city="Berlin",
        postcode="10117",
        country="DE",
        latitude=52.5230,
        longitude=13.3880,
        phone="+49 30 1234567",
        email="service.de@example.com",
        opening_hours=["Mon-Fri 08:30-17:30", "Sat and Sun closed"],
    ),
}


def seed_demo_locations(orc: Orchestrator) -> None:
    """The demo centres' finder entries (skipped for centres that have one)."""
    with orc.uow() as uow:
        have = set(uow.session.scalars(select(CentreLocation.centre_code)))
        centres = set(uow.session.scalars(select(Centre.code)))
    for code, fields in DEMO_LOCATIONS.items():
        if code in centres and code not in have:
            set_location(orc, code, accepts_online=True, **fields)
