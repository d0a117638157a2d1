"""Sample folders for teaching and measuring the plate reader (``camera.md``).

A folder holds JPEG frames, one plate each on a tray with its job ticket, and
``labels.csv`` (UTF-8) with ``filename,text,plate_type``. When near misses are asked
for, the columns ``expect_text,expect_type`` follow: every frame has a row whose
expectation is the truth, and a share ``near_miss_fraction`` of the frames stands on a
second row whose expectation is a near miss: one confusable character or the province
changed (80 %), or another plate type (20 %)::

    python -m plateline.simulators.render.samples OUT --frames 200 --seed 1 \\
        --font default --level normal --near-miss 0.5
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from plateline.contract import PLATE_TYPES

from .glyphs import PlateFont
from .numbers import near_miss, obeys_grammar, random_plate
from .scene import (
    Distortion,
    PlateSpec,
    TicketSpec,
    TrayScene,
    encode_jpeg,
    jpeg_quality,
    render_frame,
)

LEVELS = {"normal": Distortion.normal, "harsh": Distortion.harsh}
TWO_ROW_SHARE = 0.35  # of yellow plates (rear plates of large vehicles, trailers)
TYPE_MISS_SHARE = 0.2  # of near misses that claim another plate type


def _font(font: str | PlateFont) -> PlateFont:
    if isinstance(font, PlateFont):
        return font
    if font == "default":
        return PlateFont.default()
    if font == "second":
        return PlateFont.second()
    raise ValueError(f"font must be 'default', 'second' or a PlateFont, not {font!r}")


def _other_type(rng: np.random.Generator, text: str, plate_type: str) -> str:
    """Another plate type, one whose grammar the number also obeys when there is one."""
    others = [t for t in PLATE_TYPES if t != plate_type]
    plausible = [t for t in others if obeys_grammar(text, t)] or others
    return plausible[int(rng.integers(len(plausible)))]


def sample_frame(text: str, plate_type: str, rows: int, rng: np.random.Generator,
                 distortion: Distortion, font: PlateFont) -> bytes:
    """JPEG bytes of one tray holding one plate, its job ticket and scene drawn from
    ``rng`` (a ticket number, then the scene's seed)."""
    scene = TrayScene(plates=(PlateSpec(text, plate_type, rows),),
                      ticket=TicketSpec(f"ORD{int(rng.integers(10**8)):08d}"),
                      seed=int(rng.integers(2**31)), distortion=distortion)
    return encode_jpeg(render_frame(scene, font=font), jpeg_quality(scene))


def write_sample_folder(out_dir: str | Path, n_frames: int, *, seed: int,
                        font: str | PlateFont = "default", level: str = "normal",
                        near_miss_fraction: float = 0.0,
                        types: Iterable[str] | None = None) -> Path:
    """Write ``n_frames`` labelled frames into ``out_dir`` (created); returns its path."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {sorted(LEVELS)}, not {level!r}")
    if not 0.0 <= near_miss_fraction <= 1.0:
        raise ValueError("near_miss_fraction must be within 0..1")
    kinds = tuple(types) if types is not None else PLATE_TYPES
    if not kinds or any(t not in PLATE_TYPES for t in kinds):
        raise ValueError(f"types must be plate types of {PLATE_TYPES}, not {kinds!r}")
    plate_font = _font(font)
    distortion = LEVELS[level]()
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with_expect = near_miss_fraction > 0
    header = ["filename", "text", "plate_type"]
    if with_expect:
        header += ["expect_text", "expect_type"]
    rows: list[list[str]] = []
    for i in range(n_frames):
        plate_type = kinds[int(rng.integers(len(kinds)))]
        text = random_plate(rng, plate_type)
        two_rows = plate_type == "yellow" and rng.random() < TWO_ROW_SHARE
        name = f"frame_{i:05d}.jpg"
        (out / name).write_bytes(sample_frame(text, plate_type, 2 if two_rows else 1, rng,
                                              distortion, plate_font))
        if not with_expect:
            rows.append([name, text, plate_type])
            continue
        rows.append([name, text, plate_type, text, plate_type])
        if rng.random() < near_miss_fraction:
            if rng.random() < TYPE_MISS_SHARE:
                rows.append([name, text, plate_type, text, _other_type(rng, text, plate_type)])
            else:
                rows.append([name, text, plate_type, near_miss(rng, text, plate_type)[0],
                             plate_type])
    with open(out / "labels.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m plateline.simulators.render.samples",
        description="Write a labelled sample folder of rendered plate frames.")
    parser.add_argument("out", type=Path, help="folder to write (created)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--font", choices=("default", "second"), default="default")
    parser.add_argument("--level", choices=sorted(LEVELS), default="normal")
    parser.add_argument("--near-miss", type=float, default=0.0, dest="near_miss",
                        help="share of frames that also stand on a near-miss row")
    parser.add_argument("--types", default=None,
                        help="comma-separated plate types (default: all)")
    args = parser.parse_args(argv)
    types = args.types.split(",") if args.types else None
    try:
        out = write_sample_folder(args.out, args.frames, seed=args.seed, font=args.font,
                                  level=args.level, near_miss_fraction=args.near_miss,
                                  types=types)
    except ValueError as err:
        parser.error(str(err))
    print(out / "labels.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
