"""Teaching a site's font: 200 frames of the renderer's second font (Noto Serif CJK),
taught on top of the shipped model, then harsh frames of that font verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from plateline.simulators.render.samples import write_sample_folder
from plateline.vision import Expectation, read_frame, verify
from plateline.vision.model import GlyphModel
from plateline.vision.samples import read_labels
from plateline.vision.teach import teach

TEACH_FRAMES = 200
EVAL_FRAMES = 80


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("second-font")
    taught = write_sample_folder(root / "teach", TEACH_FRAMES, seed=41, font="second",
                                 level="harsh")
    check = write_sample_folder(root / "check", EVAL_FRAMES, seed=42, font="second",
                                level="harsh")
    return taught, check


def _measure(folder: Path, model: GlyphModel) -> tuple[float, int]:
    """Read rate and false accepts (orders one glyph off the truth) over the folder."""
    read = false_accepts = 0
    rows = read_labels(folder)
    for row in rows:
        reading = read_frame((folder / row.filename).read_bytes(), model)
        plates = reading.plates
        read += len(plates) == 1 and plates[0].text == row.text
        for i in range(1, len(row.text)):
            other = "8" if row.text[i] != "8" else "B"
            claim = row.text[:i] + other + row.text[i + 1:]
            false_accepts += verify(reading, Expectation(claim, row.plate_type, 1),
                                    min_confidence=0.6).ok
    return read / len(rows), false_accepts


def test_teaching_200_frames_of_a_second_font(model: GlyphModel,
                                              folders: tuple[Path, Path]) -> None:
    taught, check = folders
    site, report = teach([taught], base=model)
    assert report.used >= 0.95 * TEACH_FRAMES
    before, fa_before = _measure(check, model)
    after, fa_after = _measure(check, site)
    assert fa_before == fa_after == 0
    assert after >= 0.9 and after >= before + 0.25, (before, after)
