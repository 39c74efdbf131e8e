"""The rules a population snapshot is held to, written independently of the generator.

`violations` returns, per record of a snapshot, the names of the rules it breaks.
Defect-type rules carry the defect's name, so a test can demand that a clean record
breaks nothing and a defective one breaks exactly its own type.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from mocks.population.record import CongDan, format_timestamp
from mocks.population.regions import regions
from schemas.personal_id import Gender, agrees_with, is_well_formed

EARLIEST, LATEST = date(1900, 1, 1), date(2026, 1, 1)
_PROVINCE_OF_COMMUNE = {c.code: c.province for c in regions().communes}


def _years_between(older: date, younger: date) -> int:
    """Whole years from ``older`` to ``younger``."""
    return younger.year - older.year - ((younger.month, younger.day) < (older.month, older.day))


def _record_rules(record: CongDan) -> set[str]:
    """Rules that need only the record itself."""
    broken: set[str] = set()
    born = date.fromisoformat(record.ngay_sinh)
    gender: Gender = "male" if record.gioi_tinh == "1" else "female"
    if not is_well_formed(record.so_dinh_danh):
        broken.add("malformed_id")
    elif not agrees_with(record.so_dinh_danh, born, gender):
        broken.add("id_birth_mismatch")
    if not EARLIEST <= born < LATEST:
        broken.add("implausible_birth_date")
    if not record.ho_va_ten.strip():
        broken.add("empty_name")
    if _PROVINCE_OF_COMMUNE.get(record.ma_xa) != record.ma_tinh:
        broken.add("unknown_commune")
    if record.ngay_mat is not None:
        if record.ngay_mat < record.ngay_sinh:
            broken.add("death_before_birth")
        elif record.ngay_mat > format_timestamp(record.ngay_cap_nhat)[:10]:
            broken.add("death_in_future")
    if record.gioi_tinh not in ("1", "2") or record.quoc_tich != "VN":
        broken.add("codes")
    if not ("01" <= record.dan_toc <= "54" and "00" <= record.ton_giao <= "16"):
        broken.add("codes")
    if record.tinh_trang_hon_nhan in ("1", "3") and record.so_dinh_danh_vo_chong is not None:
        broken.add("spouse")
    updated = date.fromisoformat(format_timestamp(record.ngay_cap_nhat)[:10])
    if record.tinh_trang_hon_nhan != "1" and _years_between(born, updated) < 18:
        broken.add("minor_not_single")
    return broken


def _family_rules(record: CongDan, by_id: dict[str, CongDan]) -> set[str]:
    """Rules about the people a record references."""
    broken: set[str] = set()
    born = date.fromisoformat(record.ngay_sinh)
    for parent_id, gender in ((record.so_dinh_danh_cha, "1"), (record.so_dinh_danh_me, "2")):
        if parent_id is None:
            continue
        parent = by_id.get(parent_id)
        if parent is None or parent.gioi_tinh != gender:
            broken.add("parent_missing")
        elif _years_between(date.fromisoformat(parent.ngay_sinh), born) < 16:
            broken.add("parent_younger_than_child")
        elif parent.ngay_mat is not None and parent.ngay_mat <= record.ngay_sinh:
            broken.add("parent_dead_before_birth")
    status, spouse_id = record.tinh_trang_hon_nhan, record.so_dinh_danh_vo_chong
    if status in ("2", "4"):
        spouse = by_id.get(spouse_id or "")
        if spouse is None or not _couple_consistent(record, spouse):
            broken.add("spouse")
    return broken


def _couple_consistent(record: CongDan, spouse: CongDan) -> bool:
    """Spouses reference each other; a widow(er)'s spouse is dead and kept "married";
    a married person's spouse is married too, unless this person died and left a widow(er)."""
    if spouse.so_dinh_danh_vo_chong != record.so_dinh_danh:
        return False
    if record.tinh_trang_hon_nhan == "4":
        return spouse.ngay_mat is not None and spouse.tinh_trang_hon_nhan == "2"
    return spouse.tinh_trang_hon_nhan == "2" or (record.ngay_mat is not None and spouse.tinh_trang_hon_nhan == "4")


def violations(snapshot: list[CongDan]) -> list[set[str]]:
    """For each record of a snapshot (what one clock time shows), the rules it breaks."""
    groups: dict[str, list[CongDan]] = defaultdict(list)
    for record in snapshot:
        groups[record.so_dinh_danh].append(record)
    by_id = {key: group[0] for key, group in groups.items()}
    result = []
    for record in snapshot:
        broken = _record_rules(record) | _family_rules(record, by_id)
        twins = groups[record.so_dinh_danh]
        if len(twins) > 1:
            same_time = [t for t in twins if t.ngay_cap_nhat == record.ngay_cap_nhat]
            broken.add("duplicate_conflict" if len(set(same_time)) > 1 else "duplicate_same")
        result.append(broken)
    return result
