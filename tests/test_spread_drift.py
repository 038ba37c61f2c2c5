"""The spread-drift diagnostic: uninformative advantages narrow the fitted spread, the geometry correction does not."""

import csv

import pytest

from sb3_wasserstein.benchmarks.spread_drift import main, variance_changes


@pytest.mark.parametrize("method", ["wpo", "spo"])
def test_geometry_correction_removes_the_spread_drift_of_uninformative_advantages(method):
    """Gaussian draws with advantages independent of them: a spread fitted to the plan's marginal around the
    old mean narrows (by more than five standard errors), the corrected one does not (within four)."""
    _, drift, corrected = variance_changes(0.3, method, n_states=65536, n_support=5, dim=6, lam=0.1, seed=0)
    error = drift.std().item() / len(drift) ** 0.5
    assert drift.mean().item() < -5 * error
    assert abs(corrected.mean().item()) < 4 * corrected.std().item() / len(corrected) ** 0.5


def test_the_script_writes_one_row_per_method_radius_and_weights(tmp_path):
    out = tmp_path / "drift.csv"
    main(["--deltas", "0.3", "1.0", "--states", "512", "--out", str(out)])
    rows = list(csv.DictReader(out.open()))
    assert [(row["method"], row["delta"], row["weights"]) for row in rows] == [
        (method, delta, weights) for delta in ("0.3", "1.0") for method in ("wpo", "spo") for weights in ("plan", "corrected")
    ]
