"""Optimal-transport policy optimisation for Stable-Baselines3."""

from sb3_wasserstein.wpg import WPG
from sb3_wasserstein.wpo import SPO, WPO

__all__ = ["SPO", "WPG", "WPO"]
__version__ = "0.1.0"
