"""The change feed: moves, marriages and deaths dated after EPOCH.

About 0.5% of residents are touched per day. Every event writes a new version of
each record it touches, all with the event's NgayCapNhat, so a client that sees one
side of a marriage or a death at some clock time also sees the other side. Defective
people take no part: their one defect stays in their one (or two) records.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

from mocks.clock import DAY, EPOCH
from mocks.population.families import MIN_AGE_HUSBAND, MIN_AGE_WIFE
from mocks.population.people import NONE, People, address_line
from mocks.population.record import DIVORCED, MARRIED, SINGLE, WIDOWED, CongDan
from mocks.population.regions import regions

DAILY_SHARE = 0.005
_EPOCH_DAY = date(2026, 1, 1).toordinal()
_KIND_WEIGHTS = {"move": 60, "marriage": 15, "death": 25}
_ATTEMPTS = 200  # random draws per event before giving up on it


class _Feed:
    """The latest version of everyone, and the versions written so far."""

    def __init__(self, rng: random.Random, people: People, current: list[CongDan], defective: set[int]) -> None:
        self.rng, self.people, self.current, self.defective = rng, people, current, defective
        self.versions: list[CongDan] = []
        self.women_by_year: dict[int, list[int]] = {}
        for person in range(people.size):
            if not people.male[person]:
                self.women_by_year.setdefault(people.birth_year(person), []).append(person)

    def write(self, person: int, timestamp: int, **changes: Any) -> None:
        """Append a new version of ``person`` with ``changes`` at ``timestamp``."""
        version = self.current[person]._replace(ngay_cap_nhat=timestamp, **changes)
        self.current[person] = version
        self.versions.append(version)

    def alive_and_clean(self, person: int) -> bool:
        """Whether the person may take part in an event."""
        return person not in self.defective and self.current[person].ngay_mat is None

    def pick(self, accept: Callable[[int], bool]) -> int:
        """A random person ``accept`` agrees to, or NONE after a bounded number of draws."""
        for _ in range(_ATTEMPTS):
            person = self.rng.randrange(self.people.size)
            if self.alive_and_clean(person) and accept(person):
                return person
        return NONE


def change_feed(
    rng: random.Random, people: People, current: list[CongDan], defective: set[int], days: int
) -> list[CongDan]:
    """Versions written by ``days`` days of events after EPOCH, in time order."""
    feed = _Feed(rng, people, current, defective)
    events_per_day = max(1, round(people.size * DAILY_SHARE / 1.4))  # an event touches ~1.4 people
    kinds, weights = list(_KIND_WEIGHTS), list(_KIND_WEIGHTS.values())
    for day in range(days):
        seconds = sorted(rng.sample(range(DAY), min(events_per_day, DAY)))  # distinct: no ties per person
        for second in seconds:
            kind = rng.choices(kinds, weights=weights)[0]
            _EVENTS[kind](feed, EPOCH + day * DAY + second, _EPOCH_DAY + day)
    return feed.versions


def _move(feed: _Feed, timestamp: int, today: int) -> None:
    """A new permanent residence (mostly in the same province); a spouse moves along."""
    person = feed.pick(lambda p: True)
    if person == NONE:
        return
    units, before = regions(), feed.current[person]
    province = before.ma_tinh if feed.rng.random() < 0.7 else feed.rng.choice(units.provinces)
    commune = units.communes[feed.rng.choice(units.by_province[province])]
    address = {"ma_tinh": commune.province, "ma_xa": commune.code, "chi_tiet": address_line(feed.rng, commune.urban)}
    feed.write(person, timestamp, **address)
    spouse = feed.people.spouse[person]
    if before.tinh_trang_hon_nhan == MARRIED and feed.current[spouse].ngay_mat is None:
        feed.write(spouse, timestamp, **address)


def _marriage(feed: _Feed, timestamp: int, today: int) -> None:
    """An unmarried man and woman marry; she moves to his address."""
    people = feed.people
    husband = feed.pick(lambda p: people.male[p] and _free(feed, p) and people.age_years(p, today) >= MIN_AGE_HUSBAND)
    if husband == NONE:
        return
    wife = _bride(feed, husband, today)
    if wife == NONE:
        return
    people.spouse[husband], people.spouse[wife] = wife, husband
    him, her = feed.current[husband], feed.current[wife]
    feed.write(husband, timestamp, tinh_trang_hon_nhan=MARRIED, so_dinh_danh_vo_chong=her.so_dinh_danh)
    feed.write(
        wife,
        timestamp,
        tinh_trang_hon_nhan=MARRIED,
        so_dinh_danh_vo_chong=him.so_dinh_danh,
        ma_tinh=him.ma_tinh,
        ma_xa=him.ma_xa,
        chi_tiet=him.chi_tiet,
    )


def _free(feed: _Feed, person: int) -> bool:
    """Single or divorced: widowed people keep their link to the dead spouse, so they do not remarry here."""
    return feed.current[person].tinh_trang_hon_nhan in (SINGLE, DIVORCED)


def _bride(feed: _Feed, husband: int, today: int) -> int:
    """An unmarried adult woman of a similar age who is not his sister."""
    people, rng = feed.people, feed.rng
    year = people.birth_year(husband)
    for _ in range(_ATTEMPTS):
        bucket = feed.women_by_year.get(year + rng.randint(-3, 7))
        if not bucket:
            continue
        wife = rng.choice(bucket)
        sister = people.mother[wife] != NONE and people.mother[wife] == people.mother[husband]
        adult = people.age_years(wife, today) >= MIN_AGE_WIFE
        if adult and not sister and feed.alive_and_clean(wife) and _free(feed, wife):
            return wife
    return NONE


def _death(feed: _Feed, timestamp: int, today: int) -> None:
    """Someone (mostly old) dies today; a living spouse becomes widowed."""
    people, rng = feed.people, feed.rng
    person = feed.pick(lambda p: people.age_years(p, today) >= 60 or rng.random() < 0.05)
    if person == NONE:
        return
    feed.write(person, timestamp, ngay_mat=date.fromordinal(today).isoformat())
    spouse = people.spouse[person]
    if spouse != NONE and feed.current[person].tinh_trang_hon_nhan == MARRIED:
        feed.write(spouse, timestamp, tinh_trang_hon_nhan=WIDOWED)


_EVENTS: dict[str, Callable[[_Feed, int, int], None]] = {
    "move": _move,
    "marriage": _marriage,
    "death": _death,
}
