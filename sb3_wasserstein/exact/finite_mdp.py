"""Finite MDPs with a known model, and their exact policy evaluation (design note, section 5).

A policy is a ``[S, A]`` tensor of action probabilities. Everything is float64 torch, so that the
exact iterations can call the batched transport functions of ``common/`` directly: the states are
the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch as th

DTYPE = th.float64


@dataclass(frozen=True)
class FiniteMDP:
    """A discounted MDP with ``S`` states and ``A`` actions.

    - ``transitions``: ``[S, A, S]``, ``transitions[s, a, s'] = P(s' | s, a)``;
    - ``rewards``: ``[S, A]``, the expected reward ``R(s, a)``;
    - ``discount``: ``gamma`` in ``[0, 1)``;
    - ``initial``: ``[S]``, the initial state distribution ``mu``.
    """

    transitions: th.Tensor
    rewards: th.Tensor
    discount: float
    initial: th.Tensor
    name: str = ""

    @property
    def n_states(self) -> int:
        return self.rewards.shape[0]

    @property
    def n_actions(self) -> int:
        return self.rewards.shape[1]

    def uniform_policy(self) -> th.Tensor:
        """``pi(a | s) = 1 / A``."""
        return th.full((self.n_states, self.n_actions), 1.0 / self.n_actions, dtype=DTYPE)


def from_gymnasium(env_id: str, discount: float, **env_kwargs) -> FiniteMDP:
    """The model of a toy-text environment (``FrozenLake-v1``, ``CliffWalking-v1``, ``Taxi-v4``).

    Gymnasium exposes ``env.unwrapped.P[s][a] = [(probability, next_state, reward, terminated), ...]``.
    Termination becomes one extra absorbing state (the last index) with zero reward, so that
    ``R(s, a) = sum p r`` and the value of an episode is the discounted return of the chain.
    """
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    model = env.unwrapped.P
    n_states, n_actions = env.observation_space.n, env.action_space.n
    absorbing = n_states
    transitions = th.zeros(n_states + 1, n_actions, n_states + 1, dtype=DTYPE)
    rewards = th.zeros(n_states + 1, n_actions, dtype=DTYPE)
    for state, actions in model.items():
        for action, outcomes in actions.items():
            for probability, next_state, reward, terminated in outcomes:
                transitions[state, action, absorbing if terminated else int(next_state)] += probability
                rewards[state, action] += probability * reward
    transitions[absorbing, :, absorbing] = 1.0
    initial = th.zeros(n_states + 1, dtype=DTYPE)
    initial[:n_states] = th.as_tensor(env.unwrapped.initial_state_distrib, dtype=DTYPE)
    env.close()
    return FiniteMDP(transitions, rewards, discount, initial / initial.sum(), env_id)


def random_mdp(seed: int, n_states: int = 8, n_actions: int = 4, discount: float = 0.9) -> FiniteMDP:
    """A seeded random MDP: Dirichlet(1) transitions, standard normal rewards, uniform ``mu``."""
    generator = th.Generator().manual_seed(seed)
    transitions = -th.rand(n_states, n_actions, n_states, generator=generator, dtype=DTYPE).log()
    transitions = transitions / transitions.sum(-1, keepdim=True)
    rewards = th.randn(n_states, n_actions, generator=generator, dtype=DTYPE)
    initial = th.full((n_states,), 1.0 / n_states, dtype=DTYPE)
    return FiniteMDP(transitions, rewards, discount, initial, f"random-{seed}")


class PolicyValues(NamedTuple):
    """``V [S]``, ``Q [S, A]`` and ``A = Q - V [S, A]`` of one policy."""

    values: th.Tensor
    q_values: th.Tensor
    advantages: th.Tensor


def policy_transitions(mdp: FiniteMDP, policy: th.Tensor) -> th.Tensor:
    """``P_pi[s, s'] = sum_a pi(a | s) P(s' | s, a)``."""
    return th.einsum("sa,sat->st", policy, mdp.transitions)


def evaluate_policy(mdp: FiniteMDP, policy: th.Tensor) -> PolicyValues:
    """Exact evaluation: ``V = (I - gamma P_pi)^{-1} r_pi``, ``Q = R + gamma P V``, ``A = Q - V``."""
    eye = th.eye(mdp.n_states, dtype=DTYPE)
    reward = (policy * mdp.rewards).sum(-1)
    values = th.linalg.solve(eye - mdp.discount * policy_transitions(mdp, policy), reward)
    q_values = mdp.rewards + mdp.discount * mdp.transitions @ values
    return PolicyValues(values, q_values, q_values - values[:, None])


def discounted_visitation(mdp: FiniteMDP, policy: th.Tensor) -> th.Tensor:
    """``d_mu^pi = (1 - gamma) mu^T (I - gamma P_pi)^{-1}``, a distribution over states."""
    eye = th.eye(mdp.n_states, dtype=DTYPE)
    matrix = eye - mdp.discount * policy_transitions(mdp, policy)
    return (1.0 - mdp.discount) * th.linalg.solve(matrix.T, mdp.initial)


def value_iteration(mdp: FiniteMDP, tolerance: float = 1e-10, max_iterations: int = 100_000) -> th.Tensor:
    """The optimal values ``V* = max_a [R + gamma P V*]`` by value iteration.

    Stops when ``gamma / (1 - gamma) ||V_{n+1} - V_n||_inf <= tolerance``, which bounds ``||V_{n+1} - V*||_inf``.
    """
    values = th.zeros(mdp.n_states, dtype=DTYPE)
    for _ in range(max_iterations):
        updated = (mdp.rewards + mdp.discount * mdp.transitions @ values).max(-1).values
        change = (updated - values).abs().max().item()
        values = updated
        if mdp.discount / (1.0 - mdp.discount) * change <= tolerance:
            return values
    raise RuntimeError(f"Value iteration did not reach {tolerance} in {max_iterations} iterations.")
