"""Code 128 (code set B) bar patterns, for the barcode printed on the job ticket."""

from __future__ import annotations

import numpy as np

# Bar/space widths of symbol values 0..106 (106 is the stop pattern).
_PATTERNS = ["212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141", "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112"]
_START_B = 104
_STOP = 106
QUIET_MODULES = 10


def code128b_values(data: str) -> list[int]:
    """Symbol values (start B, data, check symbol, stop) encoding ``data``."""
    if not data or any(not 32 <= ord(c) <= 126 for c in data):
        raise ValueError(f"Code 128 B takes printable ASCII, not {data!r}")
    values = [ord(c) - 32 for c in data]
    check = (_START_B + sum(i * v for i, v in enumerate(values, start=1))) % 103
    return [_START_B, *values, check, _STOP]


def code128_modules(data: str) -> np.ndarray:
    """One row of modules (1 = bar, 0 = space), quiet zones included."""
    row: list[int] = [0] * QUIET_MODULES
    for value in code128b_values(data):
        for k, width in enumerate(_PATTERNS[value]):
            row += [1 - k % 2] * int(width)
    row += [0] * QUIET_MODULES
    return np.asarray(row, np.uint8)
