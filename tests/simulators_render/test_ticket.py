"""The job ticket's barcode is a real Code 128 of the order id."""

from __future__ import annotations

import numpy as np
import pytest

from plateline.simulators.render.code128 import _PATTERNS, code128_modules, code128b_values
from plateline.simulators.render.ticket import _BARCODE_BOX_MM, _MASTER_PPM, _master


def test_pattern_table_is_consistent() -> None:
    assert len(_PATTERNS) == len(set(_PATTERNS)) == 107
    for p in _PATTERNS[:106]:
        widths = [int(c) for c in p]
        assert sum(widths) == 11 and (widths[0] + widths[2] + widths[4]) % 2 == 0
    assert sum(int(c) for c in _PATTERNS[106]) == 13


def test_check_symbol() -> None:
    # "PJJ123C": a worked example of the Code 128 B check symbol (mod 103 weighted sum).
    values = code128b_values("PJJ123C")
    assert values[0] == 104 and values[-1] == 106
    assert values[-2] == (104 + sum(i * (ord(c) - 32) for i, c in enumerate("PJJ123C", 1))) % 103
    with pytest.raises(ValueError):
        code128b_values("订单")


def _decode_row(row: np.ndarray) -> str:
    """Decode one scan line (True = bar) printed at any module width."""
    dark = np.flatnonzero(row)
    row = row[dark[0]:dark[-1] + 1]
    edges = np.flatnonzero(np.diff(row.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [row.size]]))
    symbols = (runs.size - 7) // 6
    module = row.size / (11 * symbols + 13)
    widths = "".join(str(round(r / module)) for r in runs)
    table = {p: v for v, p in enumerate(_PATTERNS)}
    values = [table[widths[i:i + 6]] for i in range(0, 6 * symbols, 6)]
    assert widths[6 * symbols:] == _PATTERNS[106]
    assert values[0] == 104
    data, check = values[1:-1], values[-1]
    assert check == (104 + sum(i * v for i, v in enumerate(data, 1))) % 103
    return "".join(chr(v + 32) for v in data)


def test_modules_decode() -> None:
    assert _decode_row(code128_modules("ORD-20261126-0042").astype(bool)) == "ORD-20261126-0042"


@pytest.mark.parametrize("order_id", ["ORD-000001", "A1B2C3D4E5F6G7H8J9K0-LMNPQRSTUVW"])
def test_printed_barcode_decodes_to_the_order(order_id: str) -> None:
    img = _master(order_id)
    bx, by, bw, bh = _BARCODE_BOX_MM
    line = img[round((by + bh / 2) * _MASTER_PPM)].mean(axis=1)
    line = line[round(bx * _MASTER_PPM):round((bx + bw) * _MASTER_PPM)]  # not the border
    assert _decode_row(line < 128) == order_id
