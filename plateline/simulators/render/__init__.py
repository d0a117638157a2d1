"""Renderer of the camera simulator: Chinese licence plates on a tray, as ``CAM1`` sees them.

- :mod:`.plates`: one plate, fronto-parallel (``render_plate``), random numbers and near
  misses;
- :mod:`.scene`: a whole frame of a tray (``render_frame``, ``render_frame_with_truth``);
- :mod:`.samples`: labelled sample folders for teaching and measuring the reader.
"""

from .glyphs import PlateFont
from .numbers import near_miss, obeys_grammar, random_plate
from .plates import plate_size_mm, render_plate
from .scene import (
    PX_PER_MM,
    Distortion,
    PlateSpec,
    PlateTruth,
    TicketSpec,
    TrayScene,
    encode_jpeg,
    jpeg_quality,
    render_empty_belt,
    render_frame,
    render_frame_with_truth,
    render_jpeg,
    warm_up,
)

__all__ = [
    "PX_PER_MM", "Distortion", "PlateFont", "PlateSpec", "PlateTruth", "TicketSpec",
    "TrayScene", "encode_jpeg", "jpeg_quality", "near_miss", "obeys_grammar",
    "plate_size_mm", "random_plate", "render_empty_belt", "render_frame",
    "render_frame_with_truth", "render_jpeg", "render_plate", "warm_up",
]
