"""Coordinator tests run against an in-process fake Canvas (see tests/coordinator_canvas.py)."""

from tests.coordinator_canvas import canvas, canvas_down, canvas_unreachable

__all__ = ["canvas", "canvas_down", "canvas_unreachable"]
