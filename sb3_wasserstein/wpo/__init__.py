from sb3_wasserstein.wpo.policies import MlpPolicy, MultiInputPolicy
from sb3_wasserstein.wpo.spo import SPO
from sb3_wasserstein.wpo.wpo import WPO

__all__ = ["SPO", "WPO", "MlpPolicy", "MultiInputPolicy"]
