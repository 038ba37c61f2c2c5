"""SPO: WPO with the entropic (Sinkhorn) plan and its smooth dual (design note, section 2)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch as th

from sb3_wasserstein.common.transport import DualSolution, sinkhorn_dual, sinkhorn_plan, solve_sinkhorn_dual
from sb3_wasserstein.common.validation import check_real
from sb3_wasserstein.wpo.wpo import WPO


class SPO(WPO):
    """Sinkhorn Policy Optimization: WPO whose plan is the Gibbs kernel
    ``P(a'|a,s) ∝ nu(a') exp((A_k(s,a') - beta d(a,a')) / lam)`` with a uniform reference ``nu``.

    :param lam: entropic strength, in units of the rollout's advantage standard deviation (``> 0``);
        as ``lam -> 0`` SPO's update tends to WPO's
    Other parameters: see ``WPO``.
    """

    algorithm_name: ClassVar[str] = "SPO"

    def __init__(self, *args, lam: float = 0.1, **kwargs: Any):
        self.lam = lam
        super().__init__(*args, **kwargs)

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        check_real("lam", self.lam, 0.0)

    def _plan(self, advantages: th.Tensor, cost: th.Tensor, beta: float) -> th.Tensor:
        return sinkhorn_plan(advantages, cost, beta, self.lam)

    def _dual(self, beta: float, advantages: th.Tensor, cost: th.Tensor, source: th.Tensor, radius: float) -> th.Tensor:
        return sinkhorn_dual(beta, advantages, cost, source, radius, self.lam)

    def _solve_dual(self, advantages: th.Tensor, cost: th.Tensor, source: th.Tensor, radius: float) -> DualSolution:
        return solve_sinkhorn_dual(advantages, cost, source, radius, self.lam)

    def learn(self, *args, tb_log_name: str = "SPO", **kwargs):
        return super().learn(*args, tb_log_name=tb_log_name, **kwargs)
