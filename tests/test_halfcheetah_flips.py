import gymnasium as gym
import numpy as np

from sb3_wasserstein.benchmarks.halfcheetah_flips import roll_out


class StandStill:
    """A model that always outputs zero torques, with observations passed through unnormalised."""

    def predict(self, observation, deterministic=True):
        return np.zeros(6, dtype=np.float32), None

    def get_env(self):
        return self

    def normalize_obs(self, observation):
        return observation


class StartUpsideDown(gym.Wrapper):
    """HalfCheetah-v5 reset with the torso pitched by pi (on its back)."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        qpos, qvel = self.unwrapped.data.qpos.copy(), self.unwrapped.data.qvel.copy()
        qpos[2] = np.pi
        self.unwrapped.set_state(qpos, qvel)
        return self.unwrapped._get_obs(), {}


def test_roll_out_counts_the_steps_spent_upside_down():
    upright = roll_out(StandStill(), gym.make("HalfCheetah-v5"), episode_seed=0)
    on_its_back = roll_out(StandStill(), StartUpsideDown(gym.make("HalfCheetah-v5")), episode_seed=0)
    assert upright["upside_down_share"] == 0.0 and upright["first_upside_down_step"] == -1
    assert on_its_back["upside_down_share"] > 0.9 and on_its_back["first_upside_down_step"] == 0
    assert abs(upright["mean_speed"]) < 0.1
