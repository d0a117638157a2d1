"""The controller's local control socket and its client (``plateline line ...``)."""

from plateline.control.client import ControlRefused, request
from plateline.control.protocol import ControlError
from plateline.control.server import ControlServer

__all__ = ["ControlError", "ControlRefused", "ControlServer", "request"]
