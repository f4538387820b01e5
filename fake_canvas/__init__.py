"""A Canvas look-alike server for the demo, the tests and the benchmarks.

It follows docs/canvas.md, "Canvas behaviour the portal relies on" (endpoints, fields, status codes,
error bodies, pagination, throttling) and stands alone: it imports nothing else from canvas_client, so it can judge the
client, and nothing from Django.
"""

from .server import FakeCanvas

__all__ = ["FakeCanvas"]
