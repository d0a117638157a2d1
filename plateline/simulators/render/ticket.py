"""The paper job ticket: an A5 sheet with the order barcode (Code 128) and printed text."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .charset import TICKET_LINE_LABEL, TICKET_ORDER_LABEL, TICKET_TITLE
from .code128 import code128_modules
from .glyphs import PlateFont

TICKET_MM = (210.0, 148.0)  # A5, landscape
_MASTER_PPM = 4.0  # the sheet is laid out at this scale, then shrunk
_PAPER = np.array((232, 238, 241), np.uint8)  # BGR, a slightly warm white
_INK = (34, 30, 28)
_BARCODE_BOX_MM = (15.0, 30.0, 180.0, 42.0)  # x, y, max width, height


def _paint_mask(img: np.ndarray, mask: np.ndarray, x: int, y: int, colour: tuple[int, ...]
                ) -> None:
    h = min(mask.shape[0], img.shape[0] - y)
    w = min(mask.shape[1], img.shape[1] - x)
    if h <= 0 or w <= 0:
        return
    a = mask[:h, :w, None].astype(np.float32) * (1 / 255)
    roi = img[y:y + h, x:x + w].astype(np.float32)
    img[y:y + h, x:x + w] = (roi + (np.asarray(colour, np.float32) - roi) * a).astype(np.uint8)


def _text(img: np.ndarray, font: PlateFont, text: str, x_mm: float, y_mm: float,
          h_mm: float, centre: bool = False) -> None:
    mask = font.text_line(text, max(4, round(h_mm * _MASTER_PPM)))
    x = round(x_mm * _MASTER_PPM)
    if centre:
        x = (img.shape[1] - mask.shape[1]) // 2
    _paint_mask(img, mask, x, round(y_mm * _MASTER_PPM), _INK)


@functools.lru_cache(maxsize=1)
def _blank() -> np.ndarray:
    """The printed form without the order: title, rules, labels."""
    font = PlateFont.default()
    w, h = (round(v * _MASTER_PPM) for v in TICKET_MM)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = _PAPER
    _text(img, font, f"{TICKET_TITLE}  JOB TICKET", 10, 9, 9)
    y = round(24 * _MASTER_PPM)
    cv2.line(img, (round(10 * _MASTER_PPM), y), (w - round(10 * _MASTER_PPM), y), _INK, 2)
    _text(img, font, f"{TICKET_LINE_LABEL} LINE 1   CAM1 / VISION", 12, 112, 7)
    cv2.rectangle(img, (round(8 * _MASTER_PPM), round(6 * _MASTER_PPM)),
                  (w - round(8 * _MASTER_PPM), h - round(8 * _MASTER_PPM)), _INK, 1)
    img.flags.writeable = False
    return img


def _master(order_id: str) -> np.ndarray:
    font = PlateFont.default()
    img = _blank().copy()
    w = img.shape[1]
    modules = code128_modules(order_id)
    _bx, by, bw, bh = _BARCODE_BOX_MM
    module_px = min(0.6 * _MASTER_PPM, bw * _MASTER_PPM / modules.size)
    width_px = max(1, round(module_px * modules.size))
    space = cv2.resize((1 - modules)[None, :].astype(np.float32), (width_px, 1),
                       interpolation=cv2.INTER_AREA)[0]
    ink, paper = np.asarray(_INK, np.float32), _PAPER.astype(np.float32)
    row = (ink + (paper - ink) * space[:, None]).astype(np.uint8)
    x0, y0 = (w - width_px) // 2, round(by * _MASTER_PPM)
    img[y0:y0 + round(bh * _MASTER_PPM), x0:x0 + width_px] = row[None]
    _text(img, font, order_id, 0, by + bh + 3, 7, centre=True)
    _text(img, font, f"{TICKET_ORDER_LABEL} ORDER  {order_id}", 12, 98, 7)
    return img


@functools.lru_cache(maxsize=64)
def render_ticket(order_id: str, px_per_mm: float) -> np.ndarray:
    """The clean ticket (BGR) at ``px_per_mm``; cached and read-only."""
    w, h = (max(2, round(v * px_per_mm)) for v in TICKET_MM)
    out = cv2.resize(_master(order_id), (w, h), interpolation=cv2.INTER_AREA)
    out.flags.writeable = False
    return out


def damage_ticket(ticket: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smudged and torn copy of ``ticket`` (BGR) and its coverage mask.

    Grease smudges and a smeared band cross the barcode and a corner is torn off through
    it, so that no reader could decode it.
    """
    img = ticket.copy()
    h, w = img.shape[:2]
    alpha = np.full((h, w), 255, np.uint8)
    sx, sy = w / TICKET_MM[0], h / TICKET_MM[1]
    bx, by, bw, bh = _BARCODE_BOX_MM
    # Smear the bar area sideways, as a wet thumb would.
    y0, y1 = round(by * sy), round((by + bh) * sy)
    band = img[y0:y1]
    k = max(3, round(w * 0.08)) | 1
    img[y0:y1] = cv2.blur(band, (k, 1))
    # Grease smudges.
    stain: np.ndarray = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(3, 6))):
        cx = rng.uniform(bx + 10, bx + bw - 10) * sx
        cy = rng.uniform(by, by + bh) * sy
        ax, ay = rng.uniform(12, 30) * sx, rng.uniform(8, 18) * sy
        cv2.ellipse(stain, (round(cx), round(cy)), (round(ax), round(ay)),
                    float(rng.uniform(0, 180)), 0, 360, int(rng.integers(120, 220)), -1)
    stain = cv2.GaussianBlur(stain, (0, 0), max(1.0, 3 * sx))
    a = stain[..., None].astype(np.float32) * (1 / 255)
    grease = np.array((70, 85, 95), np.float32)
    img[:] = (img.astype(np.float32) * (1 - a) + grease * a).astype(np.uint8)
    # A torn-off piece: a ragged cut from the top edge down through the bars.
    xa = rng.uniform(0.35, 0.6) * w
    xb = xa + rng.uniform(0.25, 0.4) * w
    depth = rng.uniform(by + bh * 0.6, by + bh + 6) * sy
    n = 9
    xs = np.linspace(xb, xa, n)
    ys = depth * np.sin(np.linspace(0.15, np.pi - 0.15, n)) + rng.uniform(-2, 2, n) * sy
    piece = np.concatenate([[[xa, -1.0], [xb, -1.0]], np.stack([xs, ys], axis=1)])
    cv2.fillPoly(alpha, [np.round(piece).astype(np.int32)], 0, lineType=cv2.LINE_AA)
    return img, alpha
