"""Simulated downward-looking cameras streaming RTP/H.264 like PX4's Gazebo cameras."""

from sitl.camera.camera import (
    DEFAULT_HFOV_DEG,
    VIDEO_BASE_PORT,
    CameraClock,
    CameraConfig,
    CameraStats,
    ScaledClock,
    SimCamera,
    video_port,
)
from sitl.camera.errors import CameraConfigError, CameraError
from sitl.camera.fleet import FleetCameras
from sitl.camera.ground import GroundTexture
from sitl.camera.h264 import TIMESTAMP_SEI_UUID, EncodedFrame, H264Encoder
from sitl.camera.render import CameraPose, FrameRenderer, LocalTangentPlane, footprint_width_m
from sitl.camera.sdp import sdp_text, write_sdp

__all__ = [
    "DEFAULT_HFOV_DEG",
    "TIMESTAMP_SEI_UUID",
    "VIDEO_BASE_PORT",
    "CameraClock",
    "CameraConfig",
    "CameraConfigError",
    "CameraError",
    "CameraPose",
    "CameraStats",
    "EncodedFrame",
    "FleetCameras",
    "FrameRenderer",
    "GroundTexture",
    "H264Encoder",
    "LocalTangentPlane",
    "ScaledClock",
    "SimCamera",
    "footprint_width_m",
    "sdp_text",
    "video_port",
    "write_sdp",
]
