"""The personal identification number (Decree 137/2015/ND-CP, Circular 07/2016/TT-BCA).

12 digits = 3-digit province code of birth registration + 1 century/gender digit
+ 2 last digits of the birth year + 6 random digits. There is no check digit, so
all we can check is the structure and its agreement with birth date and gender.
The province code is where the birth was *registered*: it may name one of the 63
provinces that existed before the July 2025 merger, so the table below is the
pre-2025 one, not today's 34.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

Gender = Literal["male", "female"]

# Circular 07/2016/TT-BCA, annex I: the 63 province codes used in personal ids.
BIRTH_REGISTRATION_PROVINCES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

_FORMAT = re.compile(r"[0-9]{12}")  # ASCII only: \d also matches Arabic-Indic and other digits

# Century of birth -> (male digit, female digit). 1900s: 0/1, 2000s: 2/3, 2100s: 4/5.
_CENTURY_DIGITS: dict[int, tuple[str, str]] = {19: ("0", "1"), 20: ("2", "3"), 21: ("4", "5")}


def is_well_formed(personal_id: str) -> bool:
    """Twelve digits and a known birth-registration province."""
    return bool(_FORMAT.fullmatch(personal_id)) and personal_id[:3] in BIRTH_REGISTRATION_PROVINCES


def century_gender_digit(birth_year: int, gender: Gender) -> str:
    """The fourth digit for a birth year and gender.

    Raises:
        ValueError: the year is outside the centuries the decree defines.
    """
    digits = _CENTURY_DIGITS.get(birth_year // 100)
    if digits is None:
        raise ValueError("birth year outside 1900-2199 has no century/gender digit")
    return digits[0] if gender == "male" else digits[1]


def agrees_with(personal_id: str, birth_date: date, gender: Gender) -> bool:
    """Whether the id's century/gender and year digits match the birth date and gender."""
    if not is_well_formed(personal_id):
        return False
    try:
        expected = century_gender_digit(birth_date.year, gender)
    except ValueError:
        return False
    return personal_id[3] == expected and personal_id[4:6] == f"{birth_date.year % 100:02d}"


def build(province_code: str, birth_date: date, gender: Gender, serial: int) -> str:
    """Compose an id from its legal parts; ``serial`` fills the last six digits."""
    if province_code not in BIRTH_REGISTRATION_PROVINCES:
        raise ValueError("unknown birth-registration province code")
    if not 0 <= serial < 1_000_000:
        raise ValueError("serial must have at most six digits")
    digit = century_gender_digit(birth_date.year, gender)
    return f"{province_code}{digit}{birth_date.year % 100:02d}{serial:06d}"


def mask(personal_id: str | None) -> str:
    """The one way a personal id is shown anywhere (logs, messages, CLI, API, report): ``096*******45``.

    Three leading digits (the birth-registration province, which is public knowledge
    for a whole province) and two trailing ones are enough for a clerk to match a
    record against the paper in front of them, not to recover the id. A value that is
    not a plausible id (a defect may put a name or an address there) is hidden whole.
    """
    if not personal_id:
        return "<empty>"
    if len(personal_id) >= 9 and personal_id.isascii() and personal_id.isdigit():
        return personal_id[:3] + "*" * (len(personal_id) - 5) + personal_id[-2:]
    return "*" * min(len(personal_id), 12)
