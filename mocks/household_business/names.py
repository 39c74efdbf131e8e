"""Names of household businesses, as shop signs read: a trade and a person's name ("Tạp hóa Minh Anh")."""

from __future__ import annotations

import random

from mocks.population.names import name_parts

TRADES = (
    "Tạp hóa",
    "Quán cơm",
    "Quán phở",
    "Quán bún bò",
    "Quán cà phê",
    "Tiệm bánh",
    "Tiệm may",
    "Tiệm tóc",
    "Tiệm vàng",
    "Tiệm giặt là",
    "Nhà thuốc",
    "Cửa hàng điện thoại",
    "Cửa hàng điện máy",
    "Cửa hàng quần áo",
    "Cửa hàng vật liệu xây dựng",
    "Cửa hàng nông sản",
    "Cơ sở sửa xe",
    "Cơ sở in ấn",
    "Đại lý gas",
    "Đại lý vé số",
)


def business_name(rng: random.Random, owner_name: str) -> str:
    """A trade and a name: the owner's given name, two given names, or the owner's full name."""
    trade, draw = rng.choice(TRADES), rng.random()
    if draw < 0.45:
        return f"{trade} {owner_name.rsplit(' ', 1)[-1]}"
    if draw < 0.85:
        parts = name_parts()
        given = parts.male_given if rng.random() < 0.5 else parts.female_given
        first, second = rng.choice(given), rng.choice(given)
        return f"{trade} {first} {second}" if first != second else f"{trade} {first}"
    return f"{trade} {owner_name}"
