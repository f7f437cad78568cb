"""Fault-injection tests reuse the controller fixture (a Fleet on simulated vehicles)
and the video fixtures (ground texture, moving camera pose)."""

from tests.controller.conftest import controller
from tests.video.conftest import ground, make_pose

__all__ = ["controller", "ground", "make_pose"]
