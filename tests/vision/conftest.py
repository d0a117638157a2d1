"""Fixtures of the plate verifier's tests: the shipped model and rendered frames."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from plateline.simulators.render import (
    Distortion,
    PlateFont,
    PlateSpec,
    PlateTruth,
    TicketSpec,
    TrayScene,
    encode_jpeg,
    render_frame_with_truth,
)
from plateline.vision.model import GlyphModel


@pytest.fixture(scope="session")
def model() -> GlyphModel:
    return GlyphModel.default()


def frame(plates: Sequence[PlateSpec], seed: int, *, distortion: Distortion | None = None,
          ticket: bool = True, font: PlateFont | None = None, quality: int = 90
          ) -> tuple[bytes, list[PlateTruth]]:
    """A rendered tray as JPEG bytes, and where its plates lie."""
    scene = TrayScene(plates=tuple(plates), ticket=TicketSpec("ORD00012345") if ticket else None,
                      seed=seed, distortion=distortion or Distortion.normal())
    image, truth = render_frame_with_truth(scene, font=font)
    return encode_jpeg(image, quality), truth
