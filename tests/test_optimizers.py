"""The policies' optimizers run torch's multi-tensor ("foreach") Adam by default, with the same parameters as
the one-tensor-at-a-time loop torch runs on a CPU otherwise."""

import pytest
import torch as th

from sb3_wasserstein import SPO, WPG, WPO
from sb3_wasserstein.common.optimizers import foreach_by_default


class NoForeach(th.optim.Optimizer):
    """An optimizer whose constructor has no ``foreach`` argument."""

    def __init__(self, params, lr=1e-3):
        super().__init__(params, dict(lr=lr))


def test_foreach_by_default_adds_it_where_taken_and_unset():
    given = {"eps": 1e-5}
    assert foreach_by_default(th.optim.Adam, given) == {"eps": 1e-5, "foreach": True}
    assert given == {"eps": 1e-5}  # the caller's dict is left as it was
    assert foreach_by_default(th.optim.Adam, {"foreach": False}) == {"foreach": False}
    assert foreach_by_default(th.optim.Adam, {"fused": True}) == {"fused": True}  # torch refuses both
    assert foreach_by_default(th.optim.Adam, {"differentiable": True}) == {"differentiable": True}
    assert foreach_by_default(th.optim.Adam, {"fused": False}) == {"fused": False, "foreach": True}
    assert foreach_by_default(NoForeach, {"lr": 0.1}) == {"lr": 0.1}


def optimizers(model):
    if isinstance(model, WPG):
        return [model.actor.optimizer, model.critic.optimizer]
    return [model.policy.optimizer]


def small_model(algo, optimizer_kwargs=None):
    kwargs = {} if optimizer_kwargs is None else {"optimizer_kwargs": optimizer_kwargs}
    if algo is WPG:
        return WPG("MlpPolicy", "Pendulum-v1", seed=0, learning_starts=50, batch_size=32,
                   policy_kwargs=dict(net_arch=[32, 32], **kwargs))
    return algo("MlpPolicy", "Pendulum-v1", seed=0, n_steps=64, batch_size=16, n_epochs=2,
                policy_kwargs=dict(net_arch=[32, 32], **kwargs))


@pytest.mark.parametrize("algo", [WPO, SPO, WPG])
def test_policies_default_to_foreach_and_keep_a_given_choice_through_save_and_load(algo, tmp_path):
    for optimizer_kwargs, expected in ((None, True), ({"foreach": False}, False)):
        model = small_model(algo, optimizer_kwargs)
        assert all(optimizer.defaults["foreach"] is expected for optimizer in optimizers(model))
        model.save(tmp_path / "model.zip")
        loaded = algo.load(tmp_path / "model.zip")
        assert all(optimizer.defaults["foreach"] is expected for optimizer in optimizers(loaded))


@pytest.mark.parametrize("algo", [WPO, SPO, WPG])
def test_foreach_trains_to_bitwise_the_same_parameters(algo):
    def trained(optimizer_kwargs):
        model = small_model(algo, optimizer_kwargs)
        model.learn(192)  # right after its construction, which seeded torch's global generator that learn draws from
        return model.policy.state_dict()

    one_at_a_time = {"foreach": False} if algo is WPG else {"eps": 1e-5, "foreach": False}  # else: SB3's on-policy eps
    default, expected = trained(None), trained(one_at_a_time)
    assert all(th.equal(value, expected[key]) for key, value in default.items())
