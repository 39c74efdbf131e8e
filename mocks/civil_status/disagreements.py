"""Disagreements on purpose: deaths the register records and the population data does not.

A well-formed KhaiTu for a resident the population mock keeps alive throughout. The
record itself is clean; the hub must notice that two authorities disagree and record
a conflict instead of overwriting one with the other. Chosen among residents the
population feed never touches and who are no new child's mother, so nothing else
contradicts the story.
"""

from __future__ import annotations

import random
from collections.abc import Set
from datetime import date

from mocks.civil_status.births import FIRST_DAY
from mocks.civil_status.event import DEATH, SuKien, day_start
from mocks.civil_status.residents import Residents, birth_ordinal
from mocks.clock import DAY
from mocks.population.people import REFERENCE_DAY


def disagreements(
    rng: random.Random, residents: Residents, count: int, feed_days: int, excluded: Set[str]
) -> list[SuKien]:
    """``count`` KhaiTu events (fewer if too few residents qualify) for residents alive in the population data."""
    eligible = [
        record
        for record in residents.clean()
        if record.ngay_mat is None
        and record.so_dinh_danh not in residents.touched
        and record.so_dinh_danh not in excluded
    ]
    events: list[SuKien] = []
    for record in rng.sample(eligible, min(count, len(eligible))):
        if feed_days > 0:
            day = FIRST_DAY + rng.randrange(feed_days)
        else:  # no feed to hide in: a death before the data set's reference day
            earliest = min(max(birth_ordinal(record) + 1, REFERENCE_DAY - 3650), REFERENCE_DAY)
            day = rng.randint(earliest, REFERENCE_DAY)
        recorded = day_start(day) + rng.randint(600, 2 * DAY)
        iso = date.fromordinal(day).isoformat()
        events.append(SuKien("", DEATH, record.so_dinh_danh, None, iso, record.ma_xa, recorded))
    return events
