"""rl-zoo3's tuned SAC hyperparameters, v4 MuJoCo entries filed under v5 ids (for `--conf-file`)."""

from sb3_wasserstein.zoo.baselines import rl_zoo3_hyperparams

hyperparams = rl_zoo3_hyperparams("sac")
