"""Station checks, one module per station (``line.md``, "Stations, in flow order").

Each station has a ``name``, the ``event`` that brings a tray to it, the
``fault_reason`` of a check that could not be done, ``start(item, deadline)``
(called in event order, returns the future result) and ``run()`` (its workers).
"""

from plateline.controller.stations.infeed import InfeedStation
from plateline.controller.stations.vision import VisionStation

__all__ = ["InfeedStation", "VisionStation"]
