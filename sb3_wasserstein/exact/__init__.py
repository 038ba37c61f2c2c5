"""Exact solvers on known models: the theorems of the design note, checked numerically (section 5).

- ``finite_mdp``: finite MDPs (gymnasium's FrozenLake, CliffWalking, Taxi; seeded random ones), exact
  policy evaluation and value iteration;
- ``trust_region_updates``: exact WPO, SPO and KL mirror-descent iterations, calling ``common.transport``;
- ``soft_mdp``: an entropy-regularised MDP with a continuous action on a grid, soft evaluation, the soft
  Bellman operator and soft value iteration;
- ``fokker_planck``: WPG's Wasserstein gradient flow on the grid and the relative Fisher information;
- ``wpg_updates``: the WPG update as a density (the law of one Langevin step) and with particles;
- ``figures``: ``python -m sb3_wasserstein.exact.figures`` writes the convergence figures of ``docs/exact.md``.
"""
