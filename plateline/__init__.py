"""plateline: controller for licence-plate and licence-document packaging lines."""

__version__ = "0.1.0"
