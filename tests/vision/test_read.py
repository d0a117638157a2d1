"""Reading and verifying frames rendered by the simulator's camera renderer."""

from __future__ import annotations

import numpy as np
import pytest

from plateline.contract import Reason
from plateline.errors import VisionError
from plateline.simulators.render import Distortion, PlateSpec
from plateline.vision import Expectation, read_frame, verify
from plateline.vision.model import GlyphModel

from .conftest import frame

MIN_CONF = 0.6

PLATES = [
    ("京A12345", "blue", 1), ("沪C9K27J", "blue", 2), ("粤B2345学", "yellow", 1),
    ("冀E1234挂", "yellow", 2), ("浙AD12345", "green", 1), ("苏EF67890", "green", 2),
    ("鲁Q12345D", "yellow_green", 1), ("川A23456F", "yellow_green", 2),
    ("京A1234警", "white", 1), ("粤Z1234港", "black", 1), ("粤A123456", "ebike", 1),
]


@pytest.mark.parametrize("text, plate_type, rows", PLATES)
@pytest.mark.parametrize("seed", [1, 2])
def test_every_plate_type_is_read_and_verified(model: GlyphModel, text: str, plate_type: str,
                                               rows: int, seed: int) -> None:
    data, truth = frame([PlateSpec(text, plate_type, rows)], seed)
    reading = read_frame(data, model)
    assert [(p.text, p.plate_type) for p in reading.plates] == [(text, plate_type)]
    assert reading.plates[0].rows == truth[0].rows
    quad = np.array(reading.plates[0].quad)
    assert np.abs(quad - np.array(truth[0].quad)).max() < 8.0  # 2 % of a plate
    d = verify(reading, Expectation(text, plate_type, 1), min_confidence=MIN_CONF)
    assert d.ok and d.reason is Reason.NONE, d.detail


@pytest.mark.parametrize("plates", [
    [PlateSpec("粤B8D0Q6", "blue"), PlateSpec("粤B8D0Q6", "blue")],
    [PlateSpec("豫K3579挂", "yellow"), PlateSpec("豫K3579挂", "yellow", 2)],
    [PlateSpec("辽AF12345", "green"), PlateSpec("辽AF12345", "green")],
])
def test_two_plates_per_tray(model: GlyphModel, plates: list[PlateSpec]) -> None:
    data, _ = frame(plates, 7)
    reading = read_frame(data, model)
    assert [p.text for p in reading.plates] == [plates[0].text] * 2
    exp = Expectation(plates[0].text, plates[0].plate_type, 2)
    assert verify(reading, exp, min_confidence=MIN_CONF).ok
    one = Expectation(plates[0].text, plates[0].plate_type, 1)
    assert verify(reading, one, min_confidence=MIN_CONF).reason is Reason.PLATE_COUNT


def test_missing_plate_is_a_count_reject(model: GlyphModel) -> None:
    data, _ = frame([PlateSpec("京A12345", "blue")], 3)
    d = verify(read_frame(data, model), Expectation("京A12345", "blue", 2),
               min_confidence=MIN_CONF)
    assert d.reason is Reason.PLATE_COUNT


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("readable", [True, False])
def test_ticket_is_never_taken_for_a_plate(model: GlyphModel, seed: int, readable: bool) -> None:
    from plateline.simulators.render import TicketSpec, TrayScene, encode_jpeg, render_frame
    scene = TrayScene((), TicketSpec("ORD4711", readable), seed, Distortion.harsh())
    reading = read_frame(encode_jpeg(render_frame(scene), 80), model)
    assert reading.plates == [] and reading.tray_present
    assert verify(reading, Expectation(None, None, 0), min_confidence=MIN_CONF).ok


@pytest.mark.parametrize("seed", range(6))
def test_white_plate_next_to_the_ticket(model: GlyphModel, seed: int) -> None:
    data, _ = frame([PlateSpec("京A1234警", "white"), PlateSpec("京A1234警", "white")], 50 + seed,
                    distortion=Distortion.harsh())
    reading = read_frame(data, model)
    assert len(reading.plates) == 2  # the ticket is neither a plate nor glued to one


NEAR_MISSES = [  # (shown on the plate, the order's number, plate type), one swap each
    ("粤B86321", "粤BB6321", "blue"),  # 8/B
    ("粤BB6321", "粤B86321", "blue"),
    ("苏E0D123", "苏EDD123", "blue"),  # 0/D
    ("苏ED0123", "苏E00123", "blue"),
    ("苏E0Q123", "苏EQQ123", "blue"),  # 0/Q
    ("苏EQ0123", "苏E00123", "blue"),
    ("苏EDQ123", "苏EQQ123", "blue"),  # D/Q
    ("京A1771X", "京A7771X", "blue"),  # 1/7
    ("京A1771X", "京A1711X", "blue"),
    ("沪A2Z2ZF", "沪AZZ2ZF", "blue"),  # 2/Z
    ("沪A2Z2ZF", "沪A222ZF", "blue"),
    ("浙C5S5S9", "浙CSS5S9", "blue"),  # 5/S
    ("浙C5S5S9", "浙C555S9", "blue"),
    ("闽G6G6G6", "闽GGG6G6", "blue"),  # 6/G
    ("闽G6G6G6", "闽G666G6", "blue"),
    ("鲁Q80080D", "鲁QB0080D", "yellow_green"),
    ("京A12345", "津A12345", "blue"),  # province
    ("皖C61717", "鲁C61717", "yellow"),
    ("粤A123456", "苏A123456", "ebike"),
    # confusions seen on harsh frames (blur, glare): 6/5, 0/6, 0/9, 3/8, Q/0, T/7, 8/6, 0/2
    ("浙C56565", "浙C66565", "blue"),
    ("苏E06090", "苏E66090", "yellow"),
    ("苏E06090", "苏E96090", "black"),
    ("京A38383", "京A88383", "white"),
    ("陕E2G1Q7", "陕E2G107", "blue"),
    ("湘T82184F", "湘782184F", "yellow_green"),
    ("宁R707929", "宁R727929", "ebike"),
    ("粤BD68686", "粤BD88686", "green"),
]


@pytest.mark.parametrize("shown, expected, plate_type", NEAR_MISSES)
def test_near_miss_never_matches(model: GlyphModel, shown: str, expected: str,
                                 plate_type: str) -> None:
    assert shown != expected and len(shown) == len(expected)
    data, _ = frame([PlateSpec(shown, plate_type)], 11, distortion=Distortion.harsh())
    reading = read_frame(data, model)
    d = verify(reading, Expectation(expected, plate_type, 1), min_confidence=MIN_CONF)
    assert not d.ok
    assert d.reason in (Reason.PLATE_MISMATCH, Reason.VISION_FAULT)


@pytest.mark.parametrize("plate_type, claimed", [
    ("blue", "black"), ("yellow", "yellow_green"), ("green", "white"), ("white", "ebike"),
    ("yellow_green", "green"), ("black", "blue"),
])
def test_plate_of_another_type_never_matches(model: GlyphModel, plate_type: str,
                                             claimed: str) -> None:
    text = {"green": "浙AD12345", "yellow_green": "鲁Q12345D"}.get(plate_type, "京A12345")
    data, _ = frame([PlateSpec(text, plate_type)], 13)
    d = verify(read_frame(data, model), Expectation(text, claimed, 1), min_confidence=MIN_CONF)
    assert not d.ok and d.reason in (Reason.PLATE_TYPE, Reason.PLATE_MISMATCH)


@pytest.mark.parametrize("seed", range(4))
def test_empty_belt_is_never_zero_plates(model: GlyphModel, seed: int) -> None:
    from plateline.simulators.render import encode_jpeg, render_empty_belt
    reading = read_frame(encode_jpeg(render_empty_belt(seed, distortion=Distortion.harsh()), 80),
                         model)
    assert not reading.tray_present and reading.plates == []
    d = verify(reading, Expectation(None, None, 0), min_confidence=MIN_CONF)
    assert d.reason is Reason.VISION_FAULT


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 not really a jpeg", bytes(1000)])
def test_undecodable_frames_raise(model: GlyphModel, data: bytes) -> None:
    with pytest.raises(VisionError):
        read_frame(data, model)


def test_truncated_jpeg_is_not_a_pass(model: GlyphModel) -> None:
    data, _ = frame([PlateSpec("京A12345", "blue")], 4)
    try:
        reading = read_frame(data[: len(data) // 3], model)
    except VisionError:
        return
    d = verify(reading, Expectation("京A12345", "blue", 1), min_confidence=MIN_CONF)
    assert not d.ok
