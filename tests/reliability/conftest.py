"""Fault-injection tests reuse the controller fixture (a Fleet on simulated vehicles)."""

from tests.controller.conftest import controller

__all__ = ["controller"]
