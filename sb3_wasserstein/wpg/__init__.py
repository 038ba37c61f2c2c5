"""WPG: off-policy Wasserstein policy gradient with the Langevin actor update."""

from sb3_wasserstein.wpg.policies import MlpPolicy, MultiInputPolicy, WPGPolicy
from sb3_wasserstein.wpg.wpg import WPG

__all__ = ["WPG", "MlpPolicy", "MultiInputPolicy", "WPGPolicy"]
