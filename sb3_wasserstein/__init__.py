from sb3_wasserstein.wpg import WPG
