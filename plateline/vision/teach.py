"""Teaching the glyph model from labelled sample folders of full frames.

Each frame of ``labels.csv`` (``camera.md``) holds one plate: it is located,
rectified with the layout of its *labelled* type, segmented and its glyphs are
paired with the label's characters (each glyph also slightly shifted and scaled,
see ``AUGMENT``). Frames that do not give exactly one plate, or do not segment
into the label's number of characters, are skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from plateline.errors import VisionError

from .alphabet import ALPHABET, GLYPH_INDEX
from .layouts import layout_for
from .locate import candidates
from .model import GlyphModel
from .reader import decode, segment_plate
from .samples import read_labels
from .segment import BROAD, N_SHAPES, TALL, WIDE, SegmentError

#: A glyph taught from fewer crops than this is reported as thin: teach it from more frames.
THIN_CLASS = 5

#: Names of the row shapes in reports (``segment.TALL``, ``segment.WIDE``, ``segment.BROAD``).
SHAPE_NAMES: dict[int, str] = {TALL: "tall", WIDE: "wide", BROAD: "broad"}
#: Where each row shape's cells are, for warnings.
SHAPE_PLACES: dict[int, str] = {
    TALL: "tall cells: single-row plates and the lower row of e-bike plates",
    WIDE: "wide cells: the top row of two-row and e-bike plates",
    BROAD: "broad cells: the lower row of two-row plates",
}


@dataclass
class TeachReport:
    """What went into a teaching."""

    frames: int = 0
    used: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    glyphs: int = 0
    untaught: str = ""
    #: glyphs taught from the samples' own crops, in alphabet order
    from_samples: str = ""
    #: per row shape (``SHAPE_NAMES``), the glyphs the model still knows in that shape
    #: only from the base model (another font, perhaps): a plate of the site's font
    #: showing one of them there may read as a taught neighbour
    kept_from_base_by_shape: dict[str, str] = field(default_factory=dict)
    #: the same in words, row shape by row shape ("" when nothing was kept)
    kept_from_base: str = ""
    #: glyphs taught from fewer than THIN_CLASS crops, with their counts
    thin: dict[str, int] = field(default_factory=dict)
    #: crops left out, per glyph: like no other crop of their class (a mis-cut glyph)
    left_out: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"frames": self.frames, "used": self.used, "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped), "glyphs": self.glyphs,
                "untaught": self.untaught, "from_samples": self.from_samples,
                "kept_from_base": self.kept_from_base,
                "kept_from_base_by_shape": self.kept_from_base_by_shape, "thin": self.thin,
                "left_out": self.left_out}


@dataclass
class GlyphSet:
    """Glyph images with their labels and row shapes."""

    glyphs: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    shapes: list[int] = field(default_factory=list)
    #: index of the crop each image was made from (augmented copies share it)
    sources: list[int] = field(default_factory=list)


def collect(sample_dirs: Iterable[str | Path], report: TeachReport | None = None) -> GlyphSet:
    """Glyphs of every usable frame of the folders (each frame once)."""
    report = report if report is not None else TeachReport()
    out = GlyphSet()
    for sample_dir in sample_dirs:
        seen: set[str] = set()
        for row in read_labels(sample_dir):
            if row.filename in seen:
                continue
            seen.add(row.filename)
            report.frames += 1
            reason = _collect_frame(Path(sample_dir) / row.filename, row.text, row.plate_type, out)
            if reason:
                report.skipped[reason] += 1
            else:
                report.used += 1
    report.glyphs = len(set(out.sources))
    return out


def _collect_frame(path: Path, text: str, plate_type: str, out: GlyphSet) -> str:
    """Add the frame's glyphs to ``out``; returns why it was skipped, or ""."""
    if any(c not in GLYPH_INDEX for c in text):
        return "label outside the alphabet"
    try:
        image = decode(path.read_bytes())
    except (OSError, VisionError):
        return "unreadable frame"
    cands = candidates(image)
    if len(cands) != 1:
        return f"{len(cands)} plates found"
    try:
        _, rows, seg = segment_plate(image, cands[0], plate_type)
    except SegmentError:
        return "not segmented"
    if layout_for(plate_type, rows).n_chars != len(text) or len(seg.glyphs) != len(text):
        return "wrong number of characters"
    first = len(out.glyphs)
    crops = range(first, first + len(seg.glyphs))
    out.glyphs.extend(seg.glyphs)
    out.labels.extend(text)
    out.shapes.extend(seg.shapes)
    out.sources.extend(crops)
    for k, variant in enumerate(AUGMENT):
        for j, (g, ch, shape) in enumerate(zip(seg.glyphs, text, seg.shapes)):
            sign = 1 if (k + len(out.glyphs)) % 2 else -1
            out.glyphs.append(_augment(g, sign, *variant))
            out.labels.append(ch)
            out.shapes.append(shape)
            out.sources.append(first + j)
    return ""


#: Extra copies of every taught glyph: (x shift px, y shift px, scale, blur sigma px),
#: the shifts alternating in sign. The reader must not depend on the last pixel of
#: where a glyph was cut. (Blurred copies were tried: on the second font they made
#: near-identical glyphs, such as its tall H and M, confidently misread more often.)
AUGMENT = ((0.8, 0.0, 1.035, 0.0), (0.8, 0.0, 0.965, 0.0))


def _augment(glyph: np.ndarray, sign: int, dx: float, dy: float, scale: float,
             sigma: float) -> np.ndarray:
    h, w = glyph.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, scale)
    m[0, 2] += sign * dx
    m[1, 2] += sign * dy
    out: np.ndarray = cv2.warpAffine(glyph, m, (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return out


def teach(sample_dirs: Iterable[str | Path], *, base: GlyphModel | None = None
          ) -> tuple[GlyphModel, TeachReport]:
    """A model taught from sample folders (on top of ``base`` when given)."""
    dirs = [Path(d) for d in sample_dirs]
    report = TeachReport()
    data = collect(dirs, report)
    if not data.glyphs:
        raise VisionError("no usable frame to teach from")
    model = GlyphModel.teach(data.glyphs, data.labels, data.shapes, base=base,
                             meta={"taught_from": [d.name for d in dirs]},
                             sources=data.sources)
    known = set(model.glyphs)
    report.untaught = "".join(c for c in ALPHABET if c not in known)
    taught = set(zip(data.labels, data.shapes, data.sources, strict=True))
    crops = Counter(label for label, _, _ in taught)
    report.from_samples = "".join(c for c in ALPHABET if c in crops)
    report.kept_from_base_by_shape = kept_from_base(model, {(c, s) for c, s, _ in taught})
    report.kept_from_base = "; ".join(
        f"{glyphs} ({SHAPE_PLACES[shape]})" for shape, glyphs in
        ((s, report.kept_from_base_by_shape.get(SHAPE_NAMES[s], "")) for s in range(N_SHAPES))
        if glyphs)
    report.thin = {c: crops[c] for c in ALPHABET if 0 < crops[c] < THIN_CLASS}
    left = model.meta.get("left_out")
    report.left_out = ({str(k): int(v) for k, v in left.items()}
                       if isinstance(left, dict) else {})
    return model, report


def kept_from_base(model: GlyphModel, taught: set[tuple[str, int]]) -> dict[str, str]:
    """Per row shape name, the glyphs ``model`` knows in that shape but that were not
    ``taught`` there ((glyph, shape) pairs), in alphabet order; shapes with none left out."""
    out: dict[str, str] = {}
    for shape in range(N_SHAPES):
        known = {int(k) // N_SHAPES for k in model.keys if int(k) % N_SHAPES == shape}
        glyphs = "".join(ALPHABET[g] for g in sorted(known) if (ALPHABET[g], shape) not in taught)
        if glyphs:
            out[SHAPE_NAMES[shape]] = glyphs
    return out
