"""The camera layer: one QHY268/QHY600 through usb -> decode, with no INDI knowledge.

``Camera`` (connection, settings, reconnects; its TEC as ``Camera.tec``) and ``Exposure`` (one exposure in its
own thread).
"""

from .camera import Camera
from .exposure import CameraBusyError, Exposure, ExposureAborted, ExposureFailed
from .settings import CameraSettings, CapturedFrame, Stats

__all__ = ["Camera", "CameraBusyError", "CameraSettings", "CapturedFrame", "Exposure", "ExposureAborted",
           "ExposureFailed", "Stats"]
