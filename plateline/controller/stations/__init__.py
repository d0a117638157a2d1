"""Station checks, one module per station (``line.md``, "Stations, in flow order").

Each station has a ``name``, the ``event`` that brings a tray to it, the
``fault_reason`` of a check that could not be done, ``start(item, window)``
(called in event order, returns the future result) and ``run()`` (its workers).
A station that must follow trays through other events too (PACK) also has
``tray_at(item, event)`` (``tracking.TrayWatcher``).
"""

from plateline.controller.stations.infeed import InfeedStation
from plateline.controller.stations.label import LabelStation
from plateline.controller.stations.pack import PackStation
from plateline.controller.stations.vision import VisionStation
from plateline.controller.stations.weigh import WeighStation

#: Stations of the reference line in flow order (their reasons' precedence follows it).
FLOW_ORDER: tuple[str, ...] = ("INFEED", "VISION", "PACK", "WEIGH", "LABEL")

__all__ = ["FLOW_ORDER", "InfeedStation", "LabelStation", "PackStation", "VisionStation",
           "WeighStation"]
