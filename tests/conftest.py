import pytest
import torch as th


@pytest.fixture(autouse=True)
def single_thread():
    """One torch thread per test: the suite runs two workers on two cores."""
    th.set_num_threads(1)


@pytest.fixture
def logged(monkeypatch):
    """``logged(model)`` returns a dict that then holds the last value each of the model's log records gave its key."""

    def capture(model) -> dict:
        values = {}
        monkeypatch.setattr(model.logger, "record", lambda key, value, exclude=None: values.__setitem__(key, value))
        return values

    return capture
