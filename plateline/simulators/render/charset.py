"""Characters the renderer draws, hence the glyphs the shipped font subsets keep."""

from __future__ import annotations

from plateline.contract import PLATE_SUFFIXES, PROVINCES

#: Fixed Chinese words printed on the job ticket (the rest of the ticket is ASCII).
TICKET_TITLE = "号牌包装作业单"
TICKET_ORDER_LABEL = "订单号"
TICKET_LINE_LABEL = "产线"

#: The separator dot between the authority letter and the serial (U+00B7).
SEPARATOR_DOT = "\u00b7"

ASCII_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


def required_chars() -> str:
    """Every character the renderer may draw, in a stable order without repeats."""
    chars = ASCII_PRINTABLE + PROVINCES + PLATE_SUFFIXES + SEPARATOR_DOT
    chars += TICKET_TITLE + TICKET_ORDER_LABEL + TICKET_LINE_LABEL
    return "".join(dict.fromkeys(chars))
