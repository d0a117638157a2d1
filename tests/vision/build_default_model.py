"""Rebuild ``plateline/vision/models/default.npz`` from frames of the simulator's renderer.

    .venv/bin/python tests/vision/build_default_model.py [--frames 2000] [--keep DIR]
    .venv/bin/python tests/vision/build_default_model.py --spreads-only [--keep DIR]

Writes two labelled sample folders with the default plate font (normal and harsh
optics, every plate type, two-row yellow plates included) and a third drawn to cover
every glyph in every cell shape (``--covering`` frames, harsh optics: a random draw
rarely puts a letter in the lower row of a two-row plate), and teaches the glyph model
from them with ``plateline.vision.teach``. With ``--spreads-only`` the shipped
model keeps its classes, prototypes and calibration and only gets the spreads of its
classes along the lines to their neighbours (``axis_spread``) measured on the glyphs of
the same frames (how the shipped file was made).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from plateline.simulators.render import PlateFont
from plateline.simulators.render.covering import write_covering_folder
from plateline.simulators.render.samples import write_sample_folder
from plateline.vision.model import GlyphModel
from plateline.vision.teach import TeachReport, collect, teach

OUT = Path(__file__).resolve().parents[2] / "plateline" / "vision" / "models" / "default.npz"
SEEDS = {"normal": 20261101, "harsh": 20261102, "covering": 20261103}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames per optics level")
    parser.add_argument("--covering", type=int, default=600,
                        help="frames of the covering draw")
    parser.add_argument("--keep", type=Path, default=None, help="keep the sample folders here")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--spreads-only", action="store_true",
                        help="keep the shipped model, measure only its axis spreads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        dirs = []
        for level in ("normal", "harsh"):
            folder = root / f"default-{level}"
            if not (folder / "labels.csv").exists():
                write_sample_folder(folder, args.frames, seed=SEEDS[level], font="default",
                                    level=level)
            dirs.append(folder)
        if args.covering:
            folder = root / "default-covering"
            if not (folder / "labels.csv").exists():
                write_covering_folder(folder, args.covering, seed=SEEDS["covering"],
                                      font=PlateFont.default())
            dirs.append(folder)
        if args.spreads_only:
            report = TeachReport()
            data = collect(dirs, report)
            model = GlyphModel.load(OUT)
            model.measure_axis_spreads(data.glyphs, data.labels, data.shapes, data.sources)
            model.meta["axis_spread_from"] = [d.name for d in dirs]
        else:
            model, report = teach(dirs)
            model.meta["font"] = "default (Noto Sans CJK SC Bold subset)"
        model.save(args.out)
    print(json.dumps(dict(report.as_dict(), out=str(args.out), size=args.out.stat().st_size),
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
