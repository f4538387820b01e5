"""Canvas's request throttle: one leaky bucket per client (docs/canvas.md, "Throttling").

A request is refused while the bucket holds ``hwm`` or more. Otherwise ``up_front`` units are
reserved before the request runs (so slow requests in flight count against the client) and, when
it finishes, the reservation is swapped for the request's real cost. The bucket drains at
``outflow`` units per second.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .util import Clock


@dataclass
class ThrottleSettings:
    enabled: bool = True
    hwm: float = 600.0
    outflow: float = 10.0
    up_front: float = 50.0
    cost_min: float = 0.1
    cost_max: float = 1.0

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"Unknown throttle setting {key!r}.")
            setattr(self, key, bool(value) if key == "enabled" else float(value))
        if self.cost_max < self.cost_min:
            self.cost_max = self.cost_min

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Bucket:
    count: float = 0.0
    last: float = 0.0


@dataclass
class Throttle:
    clock: Clock
    settings: ThrottleSettings = field(default_factory=ThrottleSettings)
    rng: random.Random = field(default_factory=lambda: random.Random(600))
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _leak(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(0.0, now)
        elapsed = max(0.0, now - bucket.last)
        bucket.count = max(0.0, bucket.count - elapsed * self.settings.outflow)
        bucket.last = now
        return bucket

    def reserve(self, key: str) -> bool:
        """Reserve the up-front cost; False means the bucket is full and the request is refused."""
        with self._lock:
            bucket = self._leak(key)
            if bucket.count >= self.settings.hwm:
                return False
            bucket.count += self.settings.up_front
            return True

    def settle(self, key: str) -> tuple[float, float]:
        """Swap the reservation for the real cost. Returns (cost, remaining)."""
        with self._lock:
            s = self.settings
            cost = s.cost_min if s.cost_max <= s.cost_min else self.rng.uniform(s.cost_min, s.cost_max)
            bucket = self._leak(key)
            bucket.count = max(0.0, bucket.count + cost - s.up_front)
            return cost, s.hwm - bucket.count

    def level(self, key: str) -> float:
        with self._lock:
            return self._leak(key).count

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
