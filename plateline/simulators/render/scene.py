"""A camera frame of a tray on the belt: plates, the job ticket, and what optics do to them.

Scale: at the reference frame width of 1280 px the tray surface is seen at
:data:`PX_PER_MM` = 0.9 px/mm, so a 440 mm plate spans about 396 px and the tray
(1000 x 700 mm outside, 936 x 636 mm of floor) about 900 x 630 px, leaving belt visible
all round. Two 440 x 220 mm plates and the A5 ticket fit on the floor with room to
spare. Other frame sizes scale in proportion to their width.

Everything random comes from the scene's seed, so the same scene renders the same
pixels. Image coordinates are OpenCV's (pixel centres at integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from plateline.contract import PLATE_TYPES

from . import backdrop, optics
from .glyphs import PlateFont
from .placement import Placed, place_items
from .plates import plate_size_mm, render_plate_rgba
from .ticket import TICKET_MM, damage_ticket, render_ticket

PX_PER_MM = 0.9
REFERENCE_SIZE = (1280, 960)
_FOCAL = 1.1  # focal length in frame widths (about 50 degrees across)
#: Peak of a specular spot, as a share of full scale added to every channel. The
#: station lights the tray diffusely (camera.md): a sheen on the plate's film that
#: brightens it without clipping whole characters to white.
GLARE_STRENGTH = (0.2, 0.5)


@dataclass(frozen=True)
class TicketSpec:
    """The paper job ticket on the tray; an unreadable one is smudged and torn."""

    order_id: str
    readable: bool = True

    def __post_init__(self) -> None:
        if not self.order_id or any(not 32 <= ord(c) <= 126 for c in self.order_id):
            raise ValueError(f"ticket order id must be printable ASCII, not {self.order_id!r}")


@dataclass(frozen=True)
class PlateSpec:
    """A plate lying on the tray (``rows`` is ignored for ``ebike``, always two-row)."""

    text: str
    plate_type: str
    rows: int = 1

    def __post_init__(self) -> None:
        if self.plate_type not in PLATE_TYPES:
            raise ValueError(f"unknown plate type {self.plate_type!r}")
        if self.rows not in (1, 2):
            raise ValueError(f"rows must be 1 or 2, not {self.rows!r}")
        if len(self.text) < 2:
            raise ValueError(f"plate number {self.text!r} is too short")


@dataclass(frozen=True)
class Distortion:
    """Ranges the optics are drawn from, per frame (each range is ``(low, high)``)."""

    rotation_deg: float = 0.0  # plates and ticket turned by up to +- this on the tray
    tilt_deg: float = 0.0  # camera axis up to this far from straight down
    blur_sigma: tuple[float, float] = (0.0, 0.0)  # defocus, px
    motion_blur_px: tuple[int, int] = (0, 0)  # smear along the belt, px
    noise_sigma: tuple[float, float] = (0.0, 0.0)  # sensor noise, grey levels
    light_gradient: float = 0.0  # up to +- this relative change of light across the frame
    vignette: float = 0.0  # darkening of the corners
    brightness: tuple[float, float] = (1.0, 1.0)  # overall gain
    glare_probability: float = 0.0  # chance of a specular spot on each plate
    jpeg_quality: tuple[int, int] = (95, 95)

    @classmethod
    def none(cls) -> Distortion:
        """A perfect camera: plates square to the frame, no blur, noise or light changes."""
        return cls()

    @classmethod
    def normal(cls) -> Distortion:
        """A mild, well set-up station (the demo)."""
        return cls(rotation_deg=5.0, tilt_deg=2.0, blur_sigma=(0.0, 0.7),
                   motion_blur_px=(0, 2), noise_sigma=(1.0, 3.0), light_gradient=0.12,
                   vignette=0.15, brightness=(0.9, 1.1), glare_probability=0.0,
                   jpeg_quality=(82, 92))

    @classmethod
    def harsh(cls) -> Distortion:
        """The full range: tilt, rotation, blur, noise, uneven light, glare."""
        return cls(rotation_deg=10.0, tilt_deg=8.0, blur_sigma=(0.4, 1.6),
                   motion_blur_px=(0, 6), noise_sigma=(3.0, 8.0), light_gradient=0.35,
                   vignette=0.35, brightness=(0.65, 1.25), glare_probability=0.3,
                   jpeg_quality=(55, 80))


@dataclass(frozen=True)
class TrayScene:
    """What is under the camera: a tray with 0..3 plates and maybe a ticket."""

    plates: tuple[PlateSpec, ...]
    ticket: TicketSpec | None
    seed: int
    distortion: Distortion = field(default_factory=Distortion.normal)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plates", tuple(self.plates))
        if not isinstance(self.seed, int):
            raise TypeError(f"seed must be an integer, not {self.seed!r}")


@dataclass(frozen=True)
class PlateTruth:
    """Where a plate ended up: ``quad`` is its top-left, top-right, bottom-right and
    bottom-left corner (as the plate reads) in image pixels."""

    text: str
    plate_type: str
    rows: int
    quad: tuple[tuple[float, float], ...]


# Independent random streams, so that e.g. the number of plates does not change the light.
_BELT, _TRAY, _CAMERA, _PLACE, _ITEMS, _LIGHT, _BLUR, _NOISE, _JPEG = range(9)


def _streams(seed: int) -> list[np.random.Generator]:
    root = np.random.SeedSequence(seed % (1 << 128))  # any int, negative ones too
    return [np.random.default_rng(s) for s in root.spawn(9)]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(lo) if hi <= lo else float(rng.uniform(lo, hi))


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64)


def _camera(size: tuple[int, int], rng: np.random.Generator, tilt_deg: float) -> np.ndarray:
    """Homography of a camera tilted up to ``tilt_deg`` (image centre stays put)."""
    width, height = size
    tilt = np.deg2rad(_uniform(rng, (0.0, tilt_deg)))
    direction = rng.uniform(0, 2 * np.pi)
    rot, _ = cv2.Rodrigues(np.array([np.cos(direction), np.sin(direction), 0.0]) * tilt)
    f = _FOCAL * width
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
    rt = np.column_stack([rot[:, 0], rot[:, 1], [0.0, 0.0, f]])
    return k @ rt @ _translate(-width / 2, -height / 2)


def _tray_pose(size: tuple[int, int], scale: float, rng: np.random.Generator,
               rotation_deg: float) -> np.ndarray:
    """Tray-plane millimetres (origin at the tray centre) to undistorted image pixels."""
    width, height = size
    dx = rng.uniform(-60, 60) * scale / PX_PER_MM
    dy = rng.uniform(-15, 15) * scale / PX_PER_MM
    a = np.deg2rad(_uniform(rng, (-min(2.0, rotation_deg / 4), min(2.0, rotation_deg / 4))))
    c, s = np.cos(a) * scale, np.sin(a) * scale
    return np.array([[c, -s, width / 2 + dx], [s, c, height / 2 + dy], [0, 0, 1]])


def _item_matrix(item: Placed, ppm: float) -> np.ndarray:
    """Raster pixel (centre convention) of an item to tray-plane millimetres."""
    c, s = np.cos(np.deg2rad(item.angle_deg)), np.sin(np.deg2rad(item.angle_deg))
    place = np.array([[c, -s, item.cx], [s, c, item.cy], [0, 0, 1]])
    to_mm = np.array([[1 / ppm, 0, 0.5 / ppm], [0, 1 / ppm, 0.5 / ppm], [0, 0, 1]])
    return place @ _translate(-item.w / 2, -item.h / 2) @ to_mm


def _composite(frame: np.ndarray, bgr: np.ndarray, alpha: np.ndarray, m: np.ndarray,
               shadow_px: float) -> np.ndarray:
    """Warp ``bgr`` through ``m`` onto ``frame`` (in place); returns its corner quad."""
    h, w = bgr.shape[:2]
    corners = np.array([[[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]]])
    quad = cv2.perspectiveTransform(corners, m)[0]
    fh, fw = frame.shape[:2]
    pad = 3 + int(np.ceil(shadow_px * 2))
    x0, y0 = max(0, int(quad[:, 0].min()) - pad), max(0, int(quad[:, 1].min()) - pad)
    x1 = min(fw, int(np.ceil(quad[:, 0].max())) + pad)
    y1 = min(fh, int(np.ceil(quad[:, 1].max())) + pad)
    if x1 <= x0 or y1 <= y0:
        return quad
    size = (x1 - x0, y1 - y0)
    mroi = _translate(-x0, -y0) @ m
    roi = frame[y0:y1, x0:x1]
    if shadow_px > 0:
        shadow = cv2.warpPerspective(alpha, _translate(shadow_px, shadow_px) @ mroi, size,
                                     flags=cv2.INTER_LINEAR)
        shadow = cv2.GaussianBlur(shadow, (0, 0), 1.0 + shadow_px / 2)
        gain = 255 - shadow // 4
        cv2.multiply(roi, cv2.merge([gain, gain, gain]), dst=roi, scale=1 / 255)
    warped = cv2.warpPerspective(bgr, mroi, size, flags=cv2.INTER_LINEAR)
    a = cv2.warpPerspective(alpha, mroi, size, flags=cv2.INTER_LINEAR).astype(np.float32)
    a *= 1 / 255
    roi[:] = cv2.blendLinear(warped, roi, a, 1.0 - a)
    return quad


def _glare(frame: np.ndarray, quad: np.ndarray, alpha: np.ndarray, m: np.ndarray,
           rng: np.random.Generator, scale: float) -> None:
    """A specular spot somewhere on the plate (the matte tray around it stays matte)."""
    u, v = rng.uniform(0.1, 0.9, size=2)
    top = quad[0] + (quad[1] - quad[0]) * u
    bottom = quad[3] + (quad[2] - quad[3]) * u
    cx, cy = top + (bottom - top) * v
    rx, ry = rng.uniform(15, 45) * scale, rng.uniform(8, 24) * scale
    angle, strength = float(rng.uniform(0, 180)), float(rng.uniform(*GLARE_STRENGTH))
    reach = 3.0 * max(rx, ry)
    fh, fw = frame.shape[:2]
    x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
    x1, y1 = min(fw, int(cx + reach) + 1), min(fh, int(cy + reach) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    size = (x1 - x0, y1 - y0)
    spot = optics.glare_spot(size, (cx - x0, cy - y0), (rx, ry), angle, strength)
    cover = cv2.warpPerspective(alpha, _translate(-x0, -y0) @ m, size, flags=cv2.INTER_LINEAR)
    spot = cv2.multiply(spot, cover, scale=1 / 255)
    roi = frame[y0:y1, x0:x1]
    roi[:] = cv2.add(roi, cv2.merge([spot, spot, spot]))


def _finish(frame: np.ndarray, d: Distortion, streams: list[np.random.Generator]) -> np.ndarray:
    light = streams[_LIGHT]
    optics.apply_light(frame, light, _uniform(light, d.brightness),
                       _uniform(light, (0.0, d.light_gradient)), d.vignette)
    b = streams[_BLUR]
    sigma = _uniform(b, d.blur_sigma)
    motion = round(_uniform(b, (float(d.motion_blur_px[0]), float(d.motion_blur_px[1]))))
    frame = optics.blur(frame, sigma, motion)
    n = streams[_NOISE]
    return optics.add_noise(frame, _uniform(n, d.noise_sigma), n)


def render_frame_with_truth(scene: TrayScene, *, font: PlateFont | None = None,
                            size: tuple[int, int] = REFERENCE_SIZE
                            ) -> tuple[np.ndarray, list[PlateTruth]]:
    """Render ``scene`` (BGR uint8, ``size`` = width, height) and where each plate lies."""
    font = font or PlateFont.default()
    d = scene.distortion
    streams = _streams(scene.seed)
    scale = PX_PER_MM * size[0] / REFERENCE_SIZE[0]
    frame = backdrop.belt(streams[_BELT], size)
    h_img = (_camera(size, streams[_CAMERA], d.tilt_deg)
             @ _tray_pose(size, scale, streams[_TRAY], d.rotation_deg))
    backdrop.draw_tray(frame, h_img, shadow_px=6 * scale / PX_PER_MM)
    dims = [plate_size_mm(p.plate_type, p.rows) for p in scene.plates]
    if scene.ticket is not None:
        dims.append(TICKET_MM)
    placed = place_items(dims, streams[_PLACE], d.rotation_deg)
    to_pixels = _translate(-0.5, -0.5) @ h_img
    items = streams[_ITEMS]
    if scene.ticket is not None:
        paper = render_ticket(scene.ticket.order_id, round(scale, 3))
        cover = np.full(paper.shape[:2], 255, np.uint8)
        if not scene.ticket.readable:
            paper, cover = damage_ticket(paper, items)
        m = to_pixels @ _item_matrix(placed[-1], round(scale, 3))
        _composite(frame, paper, cover, m, shadow_px=1.0 * scale / PX_PER_MM)
    truths: list[PlateTruth] = []
    for spec, item in zip(scene.plates, placed):
        ppm = round(scale, 3)
        bgr, alpha = render_plate_rgba(spec.text, spec.plate_type, font=font, rows=spec.rows,
                                       px_per_mm=ppm)
        m = to_pixels @ _item_matrix(item, ppm)
        quad = _composite(frame, bgr, alpha, m, shadow_px=2.5 * scale / PX_PER_MM)
        if items.random() < d.glare_probability:
            _glare(frame, quad, alpha, m, items, scale)
        rows = 2 if spec.plate_type == "ebike" else spec.rows
        truths.append(PlateTruth(spec.text, spec.plate_type, rows,
                                 tuple((float(x), float(y)) for x, y in quad)))
    return _finish(frame, d, streams), truths


def render_frame(scene: TrayScene, *, font: PlateFont | None = None,
                 size: tuple[int, int] = REFERENCE_SIZE) -> np.ndarray:
    """Render ``scene`` as the camera sees it (BGR uint8); the same scene, the same pixels."""
    return render_frame_with_truth(scene, font=font, size=size)[0]


def render_empty_belt(seed: int, *, size: tuple[int, int] = REFERENCE_SIZE,
                      distortion: Distortion | None = None) -> np.ndarray:
    """The belt with no tray under the camera (BGR uint8)."""
    streams = _streams(seed)
    frame = backdrop.belt(streams[_BELT], size)
    return _finish(frame, distortion or Distortion.normal(), streams)


def jpeg_quality(scene: TrayScene) -> int:
    """The JPEG quality the camera uses for ``scene`` (drawn from its distortion range)."""
    lo, hi = scene.distortion.jpeg_quality
    return int(_streams(scene.seed)[_JPEG].integers(min(lo, hi), max(lo, hi) + 1))


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """``image`` (BGR) as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("image could not be encoded as JPEG")
    return buf.tobytes()


def render_jpeg(scene: TrayScene, *, font: PlateFont | None = None,
                size: tuple[int, int] = REFERENCE_SIZE) -> bytes:
    """``render_frame`` encoded at the scene's :func:`jpeg_quality`."""
    return encode_jpeg(render_frame(scene, font=font, size=size), jpeg_quality(scene))


def warm_up(size: tuple[int, int] = REFERENCE_SIZE, font: PlateFont | None = None) -> None:
    """Load the fonts and build the belt texture and noise bank now, so that the first
    frame served is as fast as the others (about 0.2 s of work)."""
    render_frame(TrayScene((PlateSpec("京A12345", "blue"),), TicketSpec("WARMUP"), 0,
                           Distortion.harsh()), font=font, size=size)
