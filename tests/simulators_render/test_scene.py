"""Whole frames: deterministic, plates inside the frame, apart, at the documented scale."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plateline.contract import PLATE_TYPES
from plateline.simulators.render import (
    PX_PER_MM,
    Distortion,
    PlateSpec,
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
from plateline.simulators.render import scene as scene_module
from plateline.simulators.render.placement import separated
from plateline.simulators.render.scene import GLARE_STRENGTH

PAIR = (PlateSpec("粤B12345", "yellow"), PlateSpec("粤B12345", "yellow", rows=2))
TICKET = TicketSpec("ORD-20261126-0001")


def scene(seed: int, distortion: Distortion | None = None, plates=PAIR, ticket=TICKET
          ) -> TrayScene:
    return TrayScene(plates, ticket, seed, distortion or Distortion.normal())


def test_same_scene_same_pixels() -> None:
    a = render_frame(scene(7, Distortion.harsh()))
    b = render_frame(scene(7, Distortion.harsh()))
    assert a.shape == (960, 1280, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.array_equal(a, render_frame_with_truth(scene(7, Distortion.harsh()))[0])
    assert not np.array_equal(a, render_frame(scene(8, Distortion.harsh())))
    assert np.array_equal(render_frame(scene(-5)), render_frame(scene(-5)))  # any int seeds


def test_plate_count_does_not_change_the_light() -> None:
    one = render_frame(scene(3, plates=PAIR[:1]))
    two = render_frame(scene(3))
    corner = (slice(60, 140), slice(20, 120))  # belt, far from the tray
    assert np.array_equal(one[corner], two[corner])


def _quad(truth) -> np.ndarray:
    return np.array(truth.quad, np.float64)


@pytest.mark.parametrize("level", [Distortion.normal(), Distortion.harsh()],
                         ids=["normal", "harsh"])
def test_plates_inside_the_frame_and_apart(level: Distortion) -> None:
    three = PAIR + (PlateSpec("粤B1234挂", "yellow", rows=2),)
    for seed in range(12):
        plates = three if seed % 3 == 0 else PAIR
        _, truths = render_frame_with_truth(scene(seed, level, plates=plates))
        assert len(truths) == len(plates)
        quads = [_quad(t) for t in truths]
        for q in quads:
            assert (q[:, 0] > 0).all() and (q[:, 0] < 1279).all()
            assert (q[:, 1] > 0).all() and (q[:, 1] < 959).all()
            assert cv2.contourArea(q.astype(np.float32)) > 150 * 300
        for i in range(len(quads)):
            for j in range(i + 1, len(quads)):
                area, _ = cv2.intersectConvexConvex(quads[i].astype(np.float32),
                                                    quads[j].astype(np.float32))
                assert area == 0 and separated(quads[i], quads[j], 1.0)


def test_truth_describes_each_plate_at_scale() -> None:
    _, truths = render_frame_with_truth(scene(4, Distortion.none()))
    assert [(t.text, t.plate_type, t.rows) for t in truths] == [
        ("粤B12345", "yellow", 1), ("粤B12345", "yellow", 2)]
    for t, height_mm in zip(truths, (140, 220)):
        q = _quad(t)
        assert abs(np.linalg.norm(q[1] - q[0]) - 440 * PX_PER_MM) < 1.0
        assert abs(np.linalg.norm(q[3] - q[0]) - height_mm * PX_PER_MM) < 1.0
        assert abs(q[0, 1] - q[1, 1]) < 1e-6  # no rotation without distortion


@pytest.mark.parametrize("plate_type", PLATE_TYPES)
def test_plate_colour_shows_inside_its_quad(plate_type: str) -> None:
    expected = {"blue": (162, 77, 12), "yellow": (0, 194, 242), "green": (95, 179, 63),
                "yellow_green": (90, 176, 69), "white": (234, 238, 238),
                "black": (30, 28, 28), "ebike": (238, 244, 244)}[plate_type]
    text = {"green": "沪AD12345", "yellow_green": "苏E12345D", "ebike": "浙A123456"}.get(
        plate_type, "京A12345")
    img, (truth,) = render_frame_with_truth(
        scene(11, Distortion.none(), plates=(PlateSpec(text, plate_type),)))
    q = _quad(truth)
    # a point in the bottom margin, half-way along, between the frame and the characters
    p = q[3] + (q[2] - q[3]) * 0.5 + (q[0] - q[3]) * 0.09
    pixel = img[round(p[1]), round(p[0])].astype(int)
    assert np.abs(pixel - np.array(expected)).max() < 40, pixel


def test_unreadable_ticket_is_damaged() -> None:
    clean = render_frame(scene(5, Distortion.none(), plates=()))
    torn = render_frame(scene(5, Distortion.none(), plates=(),
                              ticket=TicketSpec(TICKET.order_id, readable=False)))
    diff = np.abs(clean.astype(int) - torn.astype(int)).sum(axis=2) > 40
    assert 2_000 < diff.sum() < 40_000  # the ticket changed, nothing else did


def test_zero_plates_and_no_ticket() -> None:
    img, truths = render_frame_with_truth(scene(2, plates=(), ticket=None))
    assert truths == [] and img.shape == (960, 1280, 3)


def test_empty_belt_has_no_tray() -> None:
    belt = render_empty_belt(9)
    assert belt.shape == (960, 1280, 3)
    assert np.array_equal(belt, render_empty_belt(9))
    tray = render_frame(scene(9, plates=(), ticket=None))
    assert belt[300:660, 400:880].mean() < 80 < tray[300:660, 400:880].mean()


def test_other_frame_sizes_scale() -> None:
    img, truths = render_frame_with_truth(scene(6, Distortion.none()), size=(640, 480))
    assert img.shape == (480, 640, 3)
    q = _quad(truths[0])
    assert abs(np.linalg.norm(q[1] - q[0]) - 440 * PX_PER_MM / 2) < 1.0


def test_jpeg() -> None:
    s = scene(1, Distortion.harsh())
    lo, hi = s.distortion.jpeg_quality
    assert lo <= jpeg_quality(s) <= hi and jpeg_quality(s) == jpeg_quality(s)
    data = render_jpeg(s)
    assert data[:2] == b"\xff\xd8" and data == render_jpeg(s)
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(render_frame(s), 90), np.uint8),
                           cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (960, 1280, 3)


def test_presets_grow_harsher() -> None:
    none, normal, harsh = Distortion.none(), Distortion.normal(), Distortion.harsh()
    assert none.tilt_deg == 0 < normal.tilt_deg < harsh.tilt_deg == 8
    assert none.rotation_deg == 0 < normal.rotation_deg < harsh.rotation_deg == 10
    assert normal.noise_sigma[1] < harsh.noise_sigma[1]
    assert none.glare_probability == normal.glare_probability == 0 < harsh.glare_probability


def test_harsh_frames_sometimes_have_glare() -> None:
    glare = Distortion(glare_probability=1.0)
    plain = render_frame(scene(12, Distortion.none())).astype(np.int16)
    shiny = render_frame(scene(12, glare)).astype(np.int16)
    added = (shiny - plain).min(axis=2)
    assert (added > 20).sum() > 500  # a spot of white light on the plates
    assert added.max() <= round(255 * GLARE_STRENGTH[1]) + 1


@pytest.mark.parametrize("seed", [3, 5, 8, 12])
def test_glare_brightens_but_never_washes_ink_out(monkeypatch: pytest.MonkeyPatch,
                                                  seed: int) -> None:
    """Diffuse light (camera.md): even the strongest spot leaves dark ink dark."""
    monkeypatch.setattr(scene_module, "GLARE_STRENGTH", (GLARE_STRENGTH[1],) * 2)
    plates = (PlateSpec("京A88888", "white"),)
    plain = render_frame(TrayScene(plates, None, seed, Distortion.none()))
    shiny = render_frame(TrayScene(plates, None, seed, Distortion(glare_probability=1.0)))
    ink = plain.max(axis=2) < 60
    lit = (shiny.astype(np.int16) - plain).min(axis=2) > 60
    assert (ink & lit).sum() > 50  # the spot lies on characters
    assert shiny[ink & lit].max() < 200  # ... and they keep most of their contrast


def test_bad_scenes_are_refused() -> None:
    with pytest.raises(ValueError):
        PlateSpec("粤B12345", "purple")
    with pytest.raises(ValueError):
        PlateSpec("粤B12345", "blue", rows=3)
    with pytest.raises(ValueError):
        TicketSpec("订单")
    with pytest.raises(ValueError):
        render_frame(scene(1, plates=PAIR * 2))
    with pytest.raises(TypeError):
        scene(1.5)  # type: ignore[arg-type]


def test_warm_up_and_list_of_plates() -> None:
    warm_up(size=(320, 240))
    listed = TrayScene(list(PAIR), TICKET, 3)  # type: ignore[arg-type]
    assert listed == scene(3) and hash(listed) == hash(scene(3))
