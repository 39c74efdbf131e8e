"""From the population data set to every civil-status event: the generation pipeline.

One `random.Random` seeded from the population's seed drives all steps in a fixed
order, and nothing iterates a set, so the same population gives the same events.
Events are numbered in delivery order, (ThoiDiemGhiNhan, creation order), so
MaSuKien also breaks ties in that order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mocks.civil_status.births import birth_count, new_births
from mocks.civil_status.defects import Pools, inject_defects
from mocks.civil_status.disagreements import disagreements
from mocks.civil_status.event import MARRIAGE, DefectType, SuKien
from mocks.civil_status.feed import feed_events
from mocks.civil_status.history import DEFAULT_SHARE, Candidate, candidates, historic_event
from mocks.civil_status.residents import Residents, read_residents
from mocks.population.dataset import PopulationDataset


@dataclass(frozen=True, slots=True)
class Generated:
    """Events in delivery order (a duplicate_conflict copy right after its original) and the ground truth."""

    events: list[SuKien]
    defects: dict[str, DefectType]  # MaSuKien -> type
    disagreements: list[str]  # MaSuKien of the KhaiTu the population data contradicts


def generate(
    population: PopulationDataset,
    feed_days: int,
    defect_rate: float,
    disagreement_rate: float,
    events: int | None = None,
) -> Generated:
    """Build the register's events from ``population``; ``events`` asks for that many distinct MaSuKien.

    Raises:
        ValueError: impossible parameters, or more events than the population can support.
    """
    if feed_days < 0 or not 0.0 <= defect_rate <= 1.0 or not 0.0 <= disagreement_rate <= 1.0:
        raise ValueError("need feed_days >= 0, 0 <= defect_rate <= 1 and 0 <= disagreement_rate <= 1")
    rng = random.Random(f"lgsp-mock-civil-status:{population.seed}")
    residents = read_residents(population)
    feed = feed_events(rng, residents)
    born, mothers = new_births(rng, residents, birth_count(population.citizens, feed_days), feed_days)
    disputed = disagreements(rng, residents, round(population.citizens * disagreement_rate), feed_days, mothers)
    pool = candidates(residents)
    wanted = _historic_count(len(pool), len(feed) + len(born) + len(disputed), events)
    chosen = [pool[index] for index in sorted(rng.sample(range(len(pool)), wanted))]
    built = feed + disputed + born + [historic_event(rng, candidate) for candidate in chosen]
    disputed_at = range(len(feed), len(feed) + len(disputed))
    born_at = range(disputed_at.stop, disputed_at.stop + len(born))
    pools = _pools(residents, chosen, first_historic=born_at.stop, births=born_at)
    truth, copies = inject_defects(rng, built, pools, residents, defect_rate)
    return _numbered(built, truth, copies, disputed_at)


def _historic_count(candidates: int, others: int, events: int | None) -> int:
    """How many historic events to serve: a default share, or what tops the feed up to ``events``.

    Raises:
        ValueError: ``events`` is below what the feed implies or above what the population supports.
    """
    if events is None:
        return round(candidates * DEFAULT_SHARE)
    if not others <= events <= others + candidates:
        raise ValueError(
            f"civil_status_events={events} is outside what this population supports "
            f"({others}..{others + candidates} events); change civil_status_events or citizens"
        )
    return events - others


def _pools(residents: Residents, chosen: list[Candidate], first_historic: int, births: range) -> Pools:
    """Where each defect type may go: historic events by kind, and the new births."""
    pools = Pools(singles=list(births))
    for offset, candidate in enumerate(chosen):
        index = first_historic + offset
        if candidate.kind != MARRIAGE:
            pools.singles.append(index)
            continue
        assert candidate.spouse is not None
        alive = all(
            (final := residents.final(person.so_dinh_danh)) is not None and final.ngay_mat is None
            for person in (candidate.subject, candidate.spouse)
        )
        (pools.living_marriages if alive else pools.marriages).append(index)
    return pools


def _numbered(
    built: list[SuKien], truth: dict[int, DefectType], copies: dict[int, SuKien], disputed: range
) -> Generated:
    """Sort into delivery order, give out MaSuKien, and key the ground truth by it."""
    order = [index for _, index in sorted((event.thoi_diem_ghi_nhan, i) for i, event in enumerate(built))]
    width = max(6, len(str(len(built))))  # fixed width: string order is number order
    events: list[SuKien] = []
    defects: dict[str, DefectType] = {}
    disagreeing: list[str] = []
    for number, index in enumerate(order, start=1):
        event = SuKien(f"SK-{number:0{width}d}", *built[index][1:])
        events.append(event)
        if index in copies:
            events.append(copies[index]._replace(ma_su_kien=event.ma_su_kien))
        if index in truth:
            defects[event.ma_su_kien] = truth[index]
        elif index in disputed:
            disagreeing.append(event.ma_su_kien)
    return Generated(events=events, defects=defects, disagreements=disagreeing)
