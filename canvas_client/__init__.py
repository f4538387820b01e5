"""Framework-free Canvas LMS REST client for Mentor Link (no Django imports)."""

from .client import CanvasClient, object_id
from .errors import (
    CanvasAuthError,
    CanvasError,
    CanvasNotFound,
    CanvasPermissionError,
    CanvasRateLimited,
    CanvasTransientError,
    CanvasValidationError,
)
from .models import Assignment, CanvasUser, Course, Enrollment, OAuthToken, PairingCode, SisImport, Submission
from .throttle import AdaptiveLimiter, AdaptiveWindow, Limiter, NullLimiter, ThrottleSettings

__all__ = [
    "AdaptiveLimiter",
    "AdaptiveWindow",
    "Assignment",
    "CanvasAuthError",
    "CanvasClient",
    "CanvasError",
    "CanvasNotFound",
    "CanvasPermissionError",
    "CanvasRateLimited",
    "CanvasTransientError",
    "CanvasUser",
    "CanvasValidationError",
    "Course",
    "Enrollment",
    "Limiter",
    "NullLimiter",
    "OAuthToken",
    "PairingCode",
    "SisImport",
    "Submission",
    "ThrottleSettings",
    "object_id",
]
