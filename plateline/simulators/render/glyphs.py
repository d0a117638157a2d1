"""Plate fonts: glyph rasters stretched into plate character boxes, cached per (char, size).

The shipped fonts are subsets made by ``fonts/make_subsets.py`` and loaded as package
data; nothing is fetched at run time.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_FONT_PACKAGE = "plateline.simulators.render.fonts"
DEFAULT_FONT_FILE = "NotoSansCJKsc-Bold-subset.otf"
SECOND_FONT_FILE = "NotoSerifCJKsc-Bold-subset.otf"

_MASTER_PX = 192  # size at which glyphs are rasterised before being squeezed into a box
# Characters whose ink width sets how wide an ordinary letter or digit is drawn.
_REFERENCE_CHARS = "02345689ABCDEFGHKLNPRSTUVXYZ"
# Share of the thinning of vertical strokes (squeezing a glyph) that is given back.
_STROKE_COMPENSATION = 0.7
_MAX_WIDEN = 1.3


_K = TypeVar("_K")


class _Lru(Generic[_K]):
    """A small bounded cache of read-only arrays."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[_K, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _K) -> np.ndarray | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: _K, value: np.ndarray) -> None:
        value.flags.writeable = False
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)


def _stem_width(master: np.ndarray) -> float:
    """Width of the vertical stroke of an ``I`` master: its ink across the middle row (a
    serif font's ``I`` is as wide as its serifs, its stem much narrower)."""
    if master.size == 0:
        return 1.0
    return float(max(1, int((master[master.shape[0] // 2] > 127).sum())))


def _is_cjk(char: str) -> bool:
    return ord(char) >= 0x2E80


def package_font_bytes(filename: str) -> bytes:
    """The bytes of a font file shipped in ``plateline/simulators/render/fonts``."""
    return resources.files(_FONT_PACKAGE).joinpath(filename).read_bytes()


class PlateFont:
    """A font as plates use it: every glyph stretched to fill its character box.

    Letters and digits keep their relative widths (a ``1`` stays narrow) with one common
    horizontal scale, Chinese characters fill the box; vertical strokes thinned by the
    squeeze are partly thickened back, as on embossed plates. ``embolden`` (in units of
    the glyph height) thickens every stroke, for light fonts.
    """

    _default: ClassVar[PlateFont | None] = None
    _second: ClassVar[PlateFont | None] = None

    def __init__(self, data: bytes, *, index: int = 0, name: str = "font",
                 embolden: float = 0.0) -> None:
        self.name = name
        self.embolden = embolden
        self._lock = threading.Lock()
        self._pil = ImageFont.truetype(io.BytesIO(data), size=_MASTER_PX, index=index)
        self._pil_sizes: dict[int, ImageFont.FreeTypeFont] = {}
        self._data = data
        self._index = index
        self._masters: dict[str, np.ndarray] = {}
        self._glyphs: _Lru[tuple[str, int, int]] = _Lru(4096)
        self._lines: _Lru[tuple[str, int]] = _Lru(256)
        self._notdef = self._master("\uffff")
        ref = [self._master(c) for c in _REFERENCE_CHARS]
        self._ref_aspect = float(np.median([m.shape[1] / m.shape[0] for m in ref]))
        self._stem = _stem_width(self._master("I"))

    def __repr__(self) -> str:
        return f"PlateFont({self.name!r})"

    @classmethod
    def default(cls) -> PlateFont:
        """The default plate font (Noto Sans CJK SC Bold subset)."""
        if cls._default is None:
            cls._default = cls(package_font_bytes(DEFAULT_FONT_FILE), name="default")
        return cls._default

    @classmethod
    def second(cls) -> PlateFont:
        """The second font (Noto Serif CJK SC Bold subset), a different design to teach."""
        if cls._second is None:
            cls._second = cls(package_font_bytes(SECOND_FONT_FILE), name="second")
        return cls._second

    @classmethod
    def from_path(cls, path: str | Path, index: int = 0) -> PlateFont:
        """A font from a TrueType/OpenType file (``index`` picks the face of a collection)."""
        p = Path(path)
        return cls(p.read_bytes(), index=index, name=p.stem)

    def has_char(self, char: str) -> bool:
        """True when the font has a real glyph (not the missing-glyph box) for ``char``."""
        m = self._master(char)
        return m.size > 0 and not (m.shape == self._notdef.shape and
                                   np.array_equal(m, self._notdef))

    def glyph(self, char: str, width: int, height: int) -> np.ndarray:
        """Coverage mask (uint8, ``height`` x ``width``) of ``char`` filling a plate box."""
        key = (char, width, height)
        cached = self._glyphs.get(key)
        if cached is not None:
            return cached
        mask = self._build_glyph(char, max(1, width), max(1, height))
        self._glyphs.put(key, mask)
        return mask

    def text_line(self, text: str, height: int) -> np.ndarray:
        """Coverage mask of a line of text at its natural proportions, ``height`` px tall."""
        key = (text, height)
        cached = self._lines.get(key)
        if cached is not None:
            return cached
        with self._lock:
            font = self._pil_sizes.get(height)
            if font is None:
                font = ImageFont.truetype(io.BytesIO(self._data), size=height, index=self._index)
                self._pil_sizes[height] = font
            left, top, right, bottom = font.getbbox(text)
            img = Image.new("L", (max(1, int(right - left) + 2), max(1, int(bottom - top) + 2)), 0)
            ImageDraw.Draw(img).text((1 - left, 1 - top), text, font=font, fill=255)
        mask = np.asarray(img, dtype=np.uint8).copy()
        self._lines.put(key, mask)
        return mask

    def _rasterise(self, char: str) -> np.ndarray:
        with self._lock:
            left, top, right, bottom = self._pil.getbbox(char)
            pad = 4
            img = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
            ImageDraw.Draw(img).text((pad - left, pad - top), char, font=self._pil, fill=255)
        box = img.getbbox()
        if box is None:
            return np.zeros((0, 0), np.uint8)
        return np.asarray(img.crop(box), dtype=np.uint8)

    def _master(self, char: str) -> np.ndarray:
        m = self._masters.get(char)
        if m is None:
            m = self._rasterise(char)
            if self.embolden > 0 and m.size:
                r = max(1, round(self.embolden * m.shape[0]))
                m = np.pad(m, r)
                m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                            (2 * r + 1, 2 * r + 1)))
            self._masters[char] = m
        return m

    def _build_glyph(self, char: str, width: int, height: int) -> np.ndarray:
        master = self._master(char)
        out = np.zeros((height, width), np.uint8)
        if master.size == 0:
            return out
        mh, mw = master.shape
        if _is_cjk(char):
            ink_w = width
        else:
            # One horizontal scale for ordinary letters and digits; short, wide boxes (the top
            # row of two-row plates) widen them only so far.
            common = min(width / (self._ref_aspect * height), _MAX_WIDEN)
            ink_w = round(min(width, mw * (height / mh) * common))
        ink_w = max(1, ink_w)
        # A vertical stroke thins by fx/sy when a glyph is squeezed: widen it in master space.
        fx, sy = ink_w / mw, height / mh
        if fx < sy:
            extra = round(_STROKE_COMPENSATION * self._stem * (sy / fx - 1.0) * 0.5)
            extra = min(extra, int(self._stem))
            if extra >= 1:
                master = cv2.dilate(np.pad(master, ((0, 0), (extra, extra))),
                                    np.ones((1, 2 * extra + 1), np.uint8))
        ink = cv2.resize(master, (ink_w, height), interpolation=cv2.INTER_AREA)
        x0 = (width - ink_w) // 2
        out[:, x0:x0 + ink_w] = ink
        return out
