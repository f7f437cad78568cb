"""PX4-compatible simulated vehicles and the real PX4 SITL launcher."""
