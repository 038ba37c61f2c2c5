"""The actor-gradient signal diagnostic: a ratio per update and head, and the baseline takes the draw's noise out."""

import numpy as np

from sb3_wasserstein import WPG
from sb3_wasserstein.benchmarks.actor_gradient_signal import UPDATES, gradient_signal, policy_states


def test_baselined_projection_has_more_signal_than_the_plain_one():
    model = WPG("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs=dict(net_arch=[32, 32]), seed=0, device="cpu")
    states = policy_states(model, "Pendulum-v1", n_states=64, seed=0)
    assert states.shape == (64, 3)
    signal = gradient_signal(model, states, redraws=300, seed=0)
    assert set(signal) == set(UPDATES) and np.isfinite(list(signal.values())).all()
    # The plain projection's gradient is dominated by the particles' own draw (sigma xi), which the baseline subtracts.
    assert signal["langevin_baselined"][0] > 3 * signal["langevin"][0]
    assert signal["langevin_baselined"][1] > 3 * signal["langevin"][1]
