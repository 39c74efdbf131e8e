"""Names, places of origin and personal ids, once families are known.

Children take their father's family name, place of origin (que quan follows the
father) and ethnicity, so people are named oldest first.
"""

from __future__ import annotations

import random
from datetime import date

from mocks.population.names import full_name
from mocks.population.people import NONE, People
from mocks.population.regions import regions
from schemas.personal_id import Gender, build


def name_people(rng: random.Random, people: People) -> None:
    """Fill name, hometown and (inherited) ethnicity, parents before children."""
    units = regions()
    family: list[str] = [""] * people.size
    for person in sorted(range(people.size), key=people.birth.__getitem__):
        father = people.father[person]
        if father != NONE:
            family[person] = family[father]
            people.hometown[person] = people.hometown[father]
            people.ethnic[person] = people.ethnic[father]
        else:
            province = units.today_of_old[people.registered_in[person]]
            commune = units.communes[rng.choice(units.by_province[province])]
            people.hometown[person] = commune.place_name
        people.name[person] = full_name(rng, people.male[person], family[person] or None)
        family[person] = people.name[person].split(" ", 1)[0]


def assign_ids(rng: random.Random, people: People) -> set[str]:
    """Give everyone a unique, structurally valid personal id; return the ids taken."""
    taken: set[str] = set()
    for person in range(people.size):
        born = date.fromordinal(people.birth[person])
        gender: Gender = "male" if people.male[person] else "female"
        while True:
            candidate = build(people.registered_in[person], born, gender, rng.randrange(1_000_000))
            if candidate not in taken:
                break
        taken.add(candidate)
        people.personal_id[person] = candidate
    return taken
