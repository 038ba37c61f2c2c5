"""Optimal-transport policy optimisation for Stable-Baselines3."""

from sb3_wasserstein.wpo import SPO, WPO

__all__ = ["SPO", "WPO"]
__version__ = "0.1.0"
