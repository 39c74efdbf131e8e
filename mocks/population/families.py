"""Couples, parents, deaths and marital status: the links clean records must keep consistent.

Invariants every clean record satisfies (the quality suite checks the same):
- a father is male, a mother female, both born at least 16 years before the child
  (we require 17 calendar years) and, if dead, dead after the child's birth;
- married people ("2") reference each other; if one of them has died, the dead one
  keeps "2" and the survivor is widowed ("4", still referencing the dead spouse);
- single ("1") and divorced ("3") people reference no spouse;
- a death date lies after the birth date and not after the record's NgayCapNhat.
"""

from __future__ import annotations

import random

from mocks.population.people import NONE, REFERENCE_DAY, People
from mocks.population.record import DIVORCED, MARRIED, SINGLE, WIDOWED

MIN_AGE_HUSBAND, MIN_AGE_WIFE = 20, 18  # Law on Marriage and Family 2014, art. 8
MIN_PARENT_GAP_YEARS = 17  # calendar years: guarantees "at least 16 years older"


def marry(rng: random.Random, people: People) -> None:
    """Pair adult men with women of a similar age; a wife moves to her husband's address."""
    women_by_year: dict[int, list[int]] = {}
    for person in range(people.size):
        if not people.male[person] and people.age_years(person) >= MIN_AGE_WIFE:
            women_by_year.setdefault(people.birth_year(person), []).append(person)
    men = [p for p in range(people.size) if people.male[p] and people.age_years(p) >= MIN_AGE_HUSBAND]
    rng.shuffle(men)
    for husband in men:
        if rng.random() >= _marriage_probability(people.age_years(husband)):
            continue
        bucket = women_by_year.get(people.birth_year(husband) + rng.randint(-3, 7))
        if not bucket:
            continue
        wife = _take_random(rng, bucket)
        people.spouse[husband], people.spouse[wife] = wife, husband
        people.commune[wife], people.detail[wife] = people.commune[husband], people.detail[husband]


def _marriage_probability(age: int) -> float:
    """How likely a man of ``age`` is to be married."""
    return 0.3 if age < 25 else 0.6 if age < 30 else 0.8


def _take_random(rng: random.Random, bucket: list[int]) -> int:
    """Remove and return a random element in O(1) (order inside a bucket does not matter)."""
    index = rng.randrange(len(bucket))
    chosen = bucket[index]
    bucket[index] = bucket[-1]
    bucket.pop()
    return chosen


def assign_parents(rng: random.Random, people: People, share: float = 0.6) -> None:
    """Give about ``share`` of the people a mother (and mostly a father) among the couples."""
    couples_by_wife_year: dict[int, list[int]] = {}
    for husband in range(people.size):
        if people.male[husband] and people.spouse[husband] != NONE:
            wife_year = people.birth_year(people.spouse[husband])
            couples_by_wife_year.setdefault(wife_year, []).append(husband)
    for child in range(people.size):
        if rng.random() >= share:
            continue
        child_year = people.birth_year(child)
        bucket = couples_by_wife_year.get(child_year - rng.randint(MIN_AGE_WIFE, 40))
        if not bucket:
            continue
        husband = rng.choice(bucket)
        if people.birth_year(husband) > child_year - MIN_PARENT_GAP_YEARS:
            continue
        _link_child(rng, people, child, husband, people.spouse[husband])


def _link_child(rng: random.Random, people: People, child: int, father: int, mother: int) -> None:
    """Record the parents (the father is unknown for one child in ten); minors live with their mother."""
    spouse = people.spouse[child]
    if spouse != NONE and people.mother[spouse] == mother:
        return  # would make a married couple siblings
    people.mother[child] = mother
    if rng.random() < 0.9:
        people.father[child] = father
        people.youngest_child[father] = max(people.youngest_child[father], people.birth[child])
    people.youngest_child[mother] = max(people.youngest_child[mother], people.birth[child])
    if people.age_years(child) < 18:
        people.commune[child], people.detail[child] = people.commune[mother], people.detail[mother]


def assign_deaths(rng: random.Random, people: People) -> None:
    """Let some people have died (mostly the old), after their youngest child's birth."""
    for person in range(people.size):
        if rng.random() >= _death_probability(people.age_years(person)):
            continue
        spouse = people.spouse[person]
        if spouse != NONE and people.death[spouse]:
            continue  # one death per couple keeps "widowed" unambiguous
        earliest = max(people.birth[person], people.youngest_child[person]) + 1
        earliest = max(earliest, REFERENCE_DAY - 15 * 365)  # the register keeps recent deaths
        if earliest <= REFERENCE_DAY:
            people.death[person] = rng.randint(earliest, REFERENCE_DAY)


def _death_probability(age: int) -> float:
    """How likely someone of ``age`` (in mid-2025) is to be recorded as dead."""
    return 0.35 if age >= 85 else 0.15 if age >= 75 else 0.05 if age >= 60 else 0.004


def assign_marital_status(rng: random.Random, people: People) -> None:
    """Married, widowed (spouse dead), divorced (some adults without spouse) or single."""
    for person in range(people.size):
        spouse = people.spouse[person]
        if spouse != NONE:
            widowed = people.death[spouse] and not people.death[person]
            people.marital[person] = WIDOWED if widowed else MARRIED
        elif people.age_years(person) >= MIN_AGE_WIFE and rng.random() < 0.08:
            people.marital[person] = DIVORCED
        else:
            people.marital[person] = SINGLE
