"""Nominal plate geometry (GA 36-2018 and the reference e-bike design), in millimetres.

The reader rectifies every plate to its layout's size at ``CROP_PX_PER_MM`` and
looks for characters near these nominal places; :mod:`.segment` fits the exact
pitch and offsets, so dies of a site that differ by a few millimetres still read.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Scale of the rectified plate crops.
CROP_PX_PER_MM = 0.8

NEW_ENERGY = frozenset({"green", "yellow_green"})


@dataclass(frozen=True)
class RowGeometry:
    """One row of characters: ``n`` cells of ``cell`` mm every ``pitch`` mm from ``x0``.

    ``dot_after``: the separator gap follows this many characters and is ``dot_extra``
    mm wider than the normal gap.
    """

    n: int
    y: float
    h: float
    x0: float
    cell: float
    pitch: float
    dot_after: int | None = None
    dot_extra: float = 0.0


@dataclass(frozen=True)
class Layout:
    """A plate's outline and character rows."""

    name: str
    width: float
    height: float
    rows: tuple[RowGeometry, ...]

    @property
    def n_chars(self) -> int:
        return sum(r.n for r in self.rows)

    @property
    def aspect(self) -> float:
        return self.width / self.height

    def crop_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the rectified crop."""
        return round(self.width * CROP_PX_PER_MM), round(self.height * CROP_PX_PER_MM)


def _centred_row(n: int, y: float, h: float, left: float, right: float, cell: float,
                 gap: float, dot_gap: float | None = None) -> RowGeometry:
    gaps = [dot_gap if (dot_gap is not None and i == 1) else gap for i in range(n - 1)]
    total = n * cell + sum(gaps)
    k = min(1.0, (right - left) / total)
    x0 = left + ((right - left) - total * k) / 2
    return RowGeometry(n, y, h, x0, cell * k, (cell + gap) * k,
                       2 if dot_gap is not None else None,
                       (dot_gap - gap) * k if dot_gap is not None else 0.0)


SINGLE7 = Layout("single7", 440, 140, (_centred_row(7, 25, 90, 15, 425, 45, 12, 34),))
SINGLE8 = Layout("single8", 480, 140, (_centred_row(8, 25, 90, 15, 465, 43, 9, 49),))
DOUBLE7 = Layout("double7", 440, 220, (_centred_row(2, 16, 60, 100, 340, 80, 30),
                                       _centred_row(5, 94, 110, 24, 416, 65, 15)))
DOUBLE8 = Layout("double8", 440, 220, (_centred_row(2, 16, 60, 100, 340, 80, 30),
                                       _centred_row(6, 94, 110, 24, 416, 65, 10)))
EBIKE = Layout("ebike", 300, 150, (_centred_row(2, 13, 40, 60, 240, 42, 22),
                                   _centred_row(6, 64, 72, 16, 284, 36, 8)))

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (SINGLE7, SINGLE8, DOUBLE7, DOUBLE8, EBIKE)}


def layout_for(plate_type: str, rows: int) -> Layout:
    """The layout of a plate of ``plate_type`` with ``rows`` rows (e-bike: its own)."""
    if plate_type == "ebike":
        return EBIKE
    ne = plate_type in NEW_ENERGY
    if rows == 2:
        return DOUBLE8 if ne else DOUBLE7
    return SINGLE8 if ne else SINGLE7
