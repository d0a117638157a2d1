"""Where things lie on the tray floor: anywhere, turned a little, never overlapping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backdrop import TRAY_FLOOR_INSET, TRAY_MM

#: Half extents (mm) of the region item corners must stay in, around the tray centre.
FLOOR_HALF = (TRAY_MM[0] / 2 - TRAY_FLOOR_INSET - 8, TRAY_MM[1] / 2 - TRAY_FLOOR_INSET - 8)
CLEARANCE_MM = 12.0
MAX_ITEMS = 4


@dataclass(frozen=True)
class Placed:
    """An item of ``w`` x ``h`` mm centred at (``cx``, ``cy``) mm, turned ``angle_deg``."""

    cx: float
    cy: float
    w: float
    h: float
    angle_deg: float

    def corners(self) -> np.ndarray:
        c, s = np.cos(np.deg2rad(self.angle_deg)), np.sin(np.deg2rad(self.angle_deg))
        half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * (self.w / 2, self.h / 2)
        return half @ np.array([[c, s], [-s, c]]) + (self.cx, self.cy)


def separated(a: np.ndarray, b: np.ndarray, gap: float) -> bool:
    """True when convex polygons ``a`` and ``b`` are at least ``gap`` apart along some edge
    normal (a sufficient test: they then neither touch nor overlap)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        pa, pb = a @ normals.T, b @ normals.T
        if np.any((pa.min(axis=0) - pb.max(axis=0) >= gap) |
                  (pb.min(axis=0) - pa.max(axis=0) >= gap)):
            return True
    return False


def _try_place(dims: list[tuple[float, float]], rng: np.random.Generator,
               rotation_deg: float) -> list[Placed] | None:
    placed: list[Placed] = []
    hx, hy = FLOOR_HALF
    for w, h in dims:
        for _ in range(60):
            angle = float(rng.uniform(-rotation_deg, rotation_deg)) if rotation_deg > 0 else 0.0
            c, s = abs(np.cos(np.deg2rad(angle))), abs(np.sin(np.deg2rad(angle)))
            ex, ey = (w * c + h * s) / 2, (w * s + h * c) / 2
            if ex > hx or ey > hy:
                continue
            item = Placed(float(rng.uniform(-hx + ex, hx - ex)), float(rng.uniform(-hy + ey, hy - ey)),
                          w, h, angle)
            corners = item.corners()
            if all(separated(corners, p.corners(), CLEARANCE_MM) for p in placed):
                placed.append(item)
                break
        else:
            return None
    return placed


def _grid(dims: list[tuple[float, float]], rng: np.random.Generator) -> list[Placed]:
    """Fallback: one item per quarter of the floor, square to the tray."""
    hx, hy = FLOOR_HALF
    cells = [(-hx / 2, -hy / 2), (hx / 2, -hy / 2), (-hx / 2, hy / 2), (hx / 2, hy / 2)]
    order = rng.permutation(len(cells))
    out = []
    for (w, h), k in zip(dims, order):
        if w > hx - CLEARANCE_MM / 2 or h > hy - CLEARANCE_MM / 2:
            raise ValueError(f"an item of {w} x {h} mm does not fit on the tray")
        cx, cy = cells[int(k)]
        jx, jy = (hx - w - CLEARANCE_MM / 2) / 2, (hy - h - CLEARANCE_MM / 2) / 2
        out.append(Placed(cx + float(rng.uniform(-jx, jx)), cy + float(rng.uniform(-jy, jy)),
                          w, h, 0.0))
    return out


def place_items(dims: list[tuple[float, float]], rng: np.random.Generator,
                rotation_deg: float) -> list[Placed]:
    """Random non-overlapping places on the tray floor for items of ``dims`` (w, h mm),
    largest first for the search but returned in the order given."""
    if len(dims) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} items (plates and ticket) fit on a tray")
    if not dims:
        return []
    order = sorted(range(len(dims)), key=lambda i: -dims[i][0] * dims[i][1])
    sorted_dims = [dims[i] for i in order]
    result: list[Placed] | None = None
    for _ in range(12):
        result = _try_place(sorted_dims, rng, rotation_deg)
        if result is not None:
            break
    if result is None:
        result = _grid(sorted_dims, rng)
    out: list[Placed] = [result[0]] * len(dims)
    for slot, i in enumerate(order):
        out[i] = result[slot]
    return out
