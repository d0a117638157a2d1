"""Regenerate the subset fonts shipped in this folder (run once by a developer, not at run time).

Sources are Debian's packaged fonts:

- ``fonts-noto-cjk``: ``NotoSansCJK-Bold.ttc`` face 2 (Noto Sans CJK SC Bold), the default
  plate font, SIL Open Font License 1.1;
- ``fonts-noto-cjk``: ``NotoSerifCJK-Bold.ttc`` face 2 (Noto Serif CJK SC Bold), the "second
  font" that proves the reader can be taught another design; same licence.

Both are cut down to :func:`plateline.simulators.render.charset.required_chars` and written
beside this script together with their licence texts::

    python -m plateline.simulators.render.fonts.make_subsets [--out DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

from plateline.simulators.render.charset import required_chars

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SubsetJob:
    source: Path
    face: int
    out_name: str
    licence_name: str
    licence_sources: tuple[Path, ...]


JOBS = (
    SubsetJob(
        source=Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
        face=2,
        out_name="NotoSansCJKsc-Bold-subset.otf",
        licence_name="LICENSE-NotoSansCJK.txt",
        licence_sources=(Path("/usr/share/doc/fonts-noto-cjk/copyright"),),
    ),
    SubsetJob(
        source=Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"),
        face=2,
        out_name="NotoSerifCJKsc-Bold-subset.otf",
        licence_name="LICENSE-NotoSerifCJK.txt",
        licence_sources=(Path("/usr/share/doc/fonts-noto-cjk/copyright"),),
    ),
)


def _options() -> subset.Options:
    options = subset.Options()
    options.name_IDs = ["*"]  # keep copyright and licence records
    options.name_languages = ["*"]
    options.hinting = False
    options.layout_features = []
    options.notdef_outline = True
    # Embedded bitmap strips would make FreeType draw pixel glyphs at some sizes.
    options.drop_tables += ["EBDT", "EBLC", "EBSC", "BDF ", "FFTM"]
    return options


def make_subset(job: SubsetJob, out_dir: Path) -> Path:
    """Write one subset font and its licence text; return the font path."""
    font = TTCollection(str(job.source)).fonts[job.face]
    subsetter = subset.Subsetter(options=_options())
    subsetter.populate(text=required_chars())
    subsetter.subset(font)
    out = out_dir / job.out_name
    font.recalcTimestamp = False  # byte-identical output on every run
    font.save(str(out))
    parts = [
        (f"{job.out_name} is a subset of {job.source.name} (face {job.face}), cut down by\n"
        "make_subsets.py to the characters of licence plates and the job ticket.\n"
        "It is distributed under the licence of the original font, reproduced below.\n")
    ]
    for src in job.licence_sources:
        parts.append(f"\n===== {src} =====\n\n" + src.read_text(encoding="utf-8"))
    (out_dir / job.licence_name).write_text("".join(parts), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for job in JOBS:
        if not job.source.exists():
            raise SystemExit(f"missing source font {job.source} (install the Debian package)")
        out = make_subset(job, args.out)
        print(f"{out.name}: {out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
