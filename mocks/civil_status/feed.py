"""Events mirroring the population change feed: every marriage and every death after EPOCH.

The population mock writes a marriage as two versions (both spouses) and a death as
one or two (the deceased, a widowed spouse), all at the same NgayCapNhat T. The
register recorded the same event shortly after (a minute to a day), dated T's day,
at the commune where the subject lived then.
"""

from __future__ import annotations

import random

from mocks.civil_status.event import DEATH, MARRIAGE, SuKien, format_timestamp
from mocks.civil_status.residents import Residents
from mocks.clock import DAY, EPOCH
from mocks.population.record import DIVORCED, MARRIED, SINGLE, CongDan


def feed_events(rng: random.Random, residents: Residents) -> list[SuKien]:
    """One KetHon per couple married after EPOCH and one KhaiTu per death after EPOCH, in feed order."""
    previous: dict[str, CongDan] = dict(residents.initial)
    covered: set[tuple[str, int]] = set()  # (spouse id, time) of marriages already taken from the other side
    events: list[SuKien] = []
    for version in residents.population.versions:
        key, seconds = version.so_dinh_danh, version.ngay_cap_nhat
        before = previous.get(key)
        if before is None or seconds < EPOCH:
            continue  # a defective resident's record, or an initial state
        previous[key] = version
        if before.ngay_mat is None and version.ngay_mat is not None:
            events.append(_event(rng, DEATH, key, None, version))
        elif _marries(before, version) and (key, seconds) not in covered:
            spouse = version.so_dinh_danh_vo_chong
            assert spouse is not None  # a married version references its spouse
            covered.add((spouse, seconds))
            subject, other = (key, spouse) if rng.random() < 0.5 else (spouse, key)
            events.append(_event(rng, MARRIAGE, subject, other, version))
    return events


def _marries(before: CongDan, after: CongDan) -> bool:
    """Whether ``after`` is the version a marriage wrote."""
    return before.tinh_trang_hon_nhan in (SINGLE, DIVORCED) and after.tinh_trang_hon_nhan == MARRIED


def _event(rng: random.Random, kind: str, subject: str, spouse: str | None, version: CongDan) -> SuKien:
    """The register's record of a feed change; both spouses share the commune the couple lives in."""
    seconds = version.ngay_cap_nhat
    return SuKien(
        ma_su_kien="",
        loai_su_kien=kind,
        so_dinh_danh=subject,
        so_dinh_danh_vo_chong=spouse,
        ngay_su_kien=format_timestamp(seconds)[:10],
        ma_xa_dang_ky=version.ma_xa,
        thoi_diem_ghi_nhan=seconds + rng.randint(60, DAY),
    )
