"""Masking of recipients' personal data."""

from __future__ import annotations

import pytest

from plateline.records.privacy import mask_address, mask_name, mask_phone, mask_recipient


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812345678", "138****5678"),
    (" 13812345678 ", "138****5678"),
    ("+8613812345678", "+86*******5678"),
    ("020-1234567", "020****4567"),
    ("12345", "***45"),
    ("12", "**"),
    ("", ""),
])
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(("name", "masked"), [
    ("张三丰", "张**"), ("李四", "李*"), ("王", "*"), ("欧阳娜娜", "欧***"), ("", ""),
])
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_address() -> None:
    assert mask_address("广东省广州市天河区体育西路123号") == "广东省广州市****"
    assert mask_address("广东省广州市天河区体育西路123号", keep=3) == "广东省****"
    assert mask_address("某地") == "某****"  # never more than half
    assert mask_address("") == ""
    long, short = mask_address("北京市朝阳区建国路8号院1号楼"), mask_address("北京市朝阳区建国路88号")
    assert long == short == "北京市朝阳区****"  # the length is not revealed


def test_mask_recipient() -> None:
    assert mask_recipient("张三丰", "13812345678", "广东省广州市天河区体育西路123号") == {
        "recipient_name": "张**", "recipient_phone": "138****5678",
        "recipient_address": "广东省广州市****"}
