"""The mathematics shared by the algorithms: pure, batched torch functions."""
