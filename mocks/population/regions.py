"""Administrative units the simulated population lives in.

Residences use today's units (34 provinces, 3,321 communes since July 2025, from
`vietnam-provinces`). Personal ids use the province of *birth registration*, one of
the 63 pre-2025 provinces; `MERGED_INTO` says which of today's provinces each of
them became part of (Resolution 202/2025/QH15), so that birth registrations can be
weighted towards the province a person lives in now.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from vietnam_provinces import Province, VietNamDivisionType, Ward

from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES

# Today's province (2-digit code) -> the pre-2025 provinces (3-digit id codes) merged into it.
MERGED_INTO: dict[str, tuple[str, ...]] = {
    "01": ("001",),
    "04": ("004",),
    "08": ("008", "002"),
    "11": ("011",),
    "12": ("012",),
    "14": ("014",),
    "15": ("010", "015"),
    "19": ("019", "006"),
    "20": ("020",),
    "22": ("022",),
    "24": ("027", "024"),
    "25": ("025", "026", "017"),
    "31": ("031", "030"),
    "33": ("033", "034"),
    "37": ("037", "035", "036"),
    "38": ("038",),
    "40": ("040",),
    "42": ("042",),
    "44": ("045", "044"),
    "46": ("046",),
    "48": ("048", "049"),
    "51": ("051", "062"),
    "52": ("064", "052"),
    "56": ("056", "058"),
    "66": ("066", "054"),
    "68": ("068", "067", "060"),
    "75": ("075", "070"),
    "79": ("079", "074", "077"),
    "80": ("072", "080"),
    "82": ("087", "082"),
    "86": ("086", "083", "084"),
    "91": ("089", "091"),
    "92": ("092", "093", "094"),
    "96": ("096", "095"),
}


@dataclass(frozen=True, slots=True)
class Commune:
    """One of today's communes, with the strings records carry, built once."""

    code: str  # 5 digits
    province: str  # 2 digits
    urban: bool  # a phuong (ward): addresses use "To" (group) rather than "Thon" (hamlet)
    place_name: str  # "Xa ..., Tinh ...", used as a place of origin


@dataclass(frozen=True, slots=True)
class Regions:
    """Today's communes grouped by province, and the pre-2025 id province codes."""

    communes: tuple[Commune, ...]
    by_province: dict[str, tuple[int, ...]]  # province -> indexes into communes
    provinces: tuple[str, ...]
    old_codes: tuple[str, ...]  # the 63 birth-registration codes
    today_of_old: dict[str, str]  # pre-2025 code -> today's province
    commune_codes: frozenset[str]


@lru_cache(maxsize=1)
def regions() -> Regions:
    """The unit tables, loaded once from `vietnam-provinces`."""
    province_names = {f"{int(p.code):02d}": p.name for p in Province.iter_all()}
    communes = tuple(
        Commune(
            code=f"{int(w.code):05d}",
            province=f"{int(w.province_code):02d}",
            urban=w.division_type == VietNamDivisionType.PHUONG,
            place_name=f"{w.name}, {province_names[f'{int(w.province_code):02d}']}",
        )
        for w in Ward.iter_all()
    )
    by_province: dict[str, list[int]] = {code: [] for code in province_names}
    for index, commune in enumerate(communes):
        by_province[commune.province].append(index)
    _check_merger_table(set(province_names))
    return Regions(
        communes=communes,
        by_province={code: tuple(indexes) for code, indexes in by_province.items()},
        provinces=tuple(province_names),
        old_codes=tuple(BIRTH_REGISTRATION_PROVINCES),
        today_of_old={old: new for new, olds in MERGED_INTO.items() for old in olds},
        commune_codes=frozenset(c.code for c in communes),
    )


def _check_merger_table(today: set[str]) -> None:
    """Fail loudly if the merger table and the installed unit data disagree."""
    olds = [old for group in MERGED_INTO.values() for old in group]
    if set(MERGED_INTO) != today or sorted(olds) != sorted(BIRTH_REGISTRATION_PROVINCES):
        raise RuntimeError(
            "mocks.population.regions.MERGED_INTO no longer matches vietnam-provinces "
            "or schemas.personal_id; update the table"
        )
