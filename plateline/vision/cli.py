"""``plateline vision teach`` and ``plateline vision eval`` (argparse is wired by the CLI).

``eval`` verifies every row of a sample folder's ``labels.csv`` against its
expected plate (``expect_text`` / ``expect_type``, else the truth) with one
plate expected per frame, and measures per frame the time from JPEG bytes to the
decision (one process, OpenCV on one thread): wall time (``ms_*``) and the
thread's CPU time (``cpu_ms_*``, unaffected by other load on the machine).
``read_rate`` counts frames whose one plate was read exactly (text and type).
The result is returned, not printed: ``plateline vision eval`` prints it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from plateline.contract import Reason
from plateline.errors import VisionError

from .decide import DEFAULT_MARGIN, verify
from .model import GlyphModel
from .reader import read_frame
from .reading import Decision, Expectation, FrameReading
from .samples import read_labels
from .teach import teach

#: Confidence used by ``eval`` (the reference recipes' ``min_confidence``).
EVAL_MIN_CONFIDENCE = 0.6


def teach_main(sample_dir: Path, out_model: Path, base_model: Path | None) -> dict[str, object]:
    """Teach a model from ``sample_dir`` (on top of ``base_model``) and write it."""
    base = GlyphModel.load(base_model) if base_model is not None else None
    model, report = teach([sample_dir], base=base)
    out_model.parent.mkdir(parents=True, exist_ok=True)
    model.save(out_model)
    return dict(report.as_dict(), model=str(out_model), known=model.glyphs)


def _load(model: Path | GlyphModel | None) -> GlyphModel:
    if isinstance(model, GlyphModel):
        return model
    return GlyphModel.load(model) if model is not None else GlyphModel.default()


def eval_main(sample_dir: Path, model: Path | GlyphModel | None, decisions_out: Path | None,
              as_json: bool = True, *, min_confidence: float = EVAL_MIN_CONFIDENCE,
              margin: float = DEFAULT_MARGIN) -> dict[str, object]:
    """Verify a sample folder; returns the measures (``as_json`` is kept for callers
    that pass it: the command line prints the result once, as JSON or as lines).

    Each frame is read once (the time from its bytes to the reading is measured,
    plus the decision of its first row); every row of ``labels.csv`` is one trial.
    """
    del as_json
    glyph_model = _load(model)
    rows = read_labels(sample_dir)
    cv2.setNumThreads(1)
    readings: dict[str, tuple[FrameReading | None, str]] = {}
    lines: list[str] = []
    ms: list[float] = []
    cpu_ms: list[float] = []
    read_ok = false_accepts = false_rejects = trials_true = trials_miss = 0
    reasons: dict[str, int] = {}
    for row in rows:
        expectation = Expectation(row.expect_text, row.expect_type, 1)
        if row.filename not in readings:
            data = (sample_dir / row.filename).read_bytes()
            t0, c0 = time.perf_counter(), time.thread_time()
            reading: FrameReading | None
            try:
                reading, note = read_frame(data, glyph_model), ""
            except VisionError as err:
                reading, note = None, str(err)
            decision = _decide(reading, note, expectation, min_confidence, margin)
            ms.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.thread_time() - c0) * 1000)
            readings[row.filename] = (reading, note)
            plates = reading.plates if reading else []
            if len(plates) == 1 and plates[0].text == row.text and \
                    plates[0].plate_type == row.plate_type:
                read_ok += 1
        else:
            reading, note = readings[row.filename]
            decision = _decide(reading, note, expectation, min_confidence, margin)
        if row.near_miss:
            trials_miss += 1
            false_accepts += decision.ok
        else:
            trials_true += 1
            false_rejects += not decision.ok
        reasons[decision.reason.name] = reasons.get(decision.reason.name, 0) + 1
        lines.append(json.dumps({
            "filename": row.filename,
            "read": [p.as_record() for p in (reading.plates if reading else [])],
            "decision": "match" if decision.ok else "no_match",
            "reason": decision.reason.name,
        }, ensure_ascii=False))
    if decisions_out is not None:
        decisions_out.parent.mkdir(parents=True, exist_ok=True)
        decisions_out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    frames = len(readings)
    return {
        "frames": frames,
        "trials": len(rows),
        "read_rate": round(read_ok / frames, 4) if frames else 0.0,
        "false_accepts": false_accepts,
        "false_rejects": false_rejects,
        "near_miss_trials": trials_miss,
        "true_trials": trials_true,
        "ms_median": round(float(np.median(ms)), 2) if ms else 0.0,
        "ms_p95": round(float(np.percentile(ms, 95)), 2) if ms else 0.0,
        "cpu_ms_median": round(float(np.median(cpu_ms)), 2) if cpu_ms else 0.0,
        "cpu_ms_p95": round(float(np.percentile(cpu_ms, 95)), 2) if cpu_ms else 0.0,
        "reasons": reasons,
        "min_confidence": min_confidence,
        "margin": margin,
    }


def _decide(reading: FrameReading | None, note: str, expectation: Expectation,
            min_confidence: float, margin: float) -> Decision:
    if reading is None:
        return Decision(False, Reason.VISION_FAULT, note)
    return verify(reading, expectation, min_confidence=min_confidence, margin=margin)
