import pytest
import torch as th


@pytest.fixture(autouse=True)
def single_thread():
    """One torch thread per test: the suite runs two workers on two cores."""
    th.set_num_threads(1)
