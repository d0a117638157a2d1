"""Masking of the recipients' personal data for the HMI, logs and exports.

Only the label printer gets the full name, phone and address; everything else shows
these masked forms unless a role allows the full data.
"""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``: the first three and last four characters stay."""
    s = phone.strip()
    if len(s) >= 8:
        return s[:3] + "*" * (len(s) - 7) + s[-4:]
    if len(s) > 2:
        return "*" * (len(s) - 2) + s[-2:]
    return "*" * len(s)


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张**``: the first character stays, one ``*`` per other character."""
    s = name.strip()
    if len(s) <= 1:
        return "*" * len(s)
    return s[0] + "*" * (len(s) - 1)


def mask_address(address: str, keep: int = 6) -> str:
    """The first ``keep`` characters (at most half of the address), then ``****``.

    ``广东省广州市天河区体育西路123号`` -> ``广东省广州市****``: province and city
    stay, street and number go; the length is not revealed.
    """
    s = address.strip()
    if not s:
        return ""
    return s[: min(keep, len(s) // 2)] + "****"


def mask_recipient(name: str, phone: str, address: str) -> dict[str, str]:
    """The masked recipient fields as a dict, ready for the HMI or a log line."""
    return {
        "recipient_name": mask_name(name),
        "recipient_phone": mask_phone(phone),
        "recipient_address": mask_address(address),
    }
