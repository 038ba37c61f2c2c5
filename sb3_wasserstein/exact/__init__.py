"""Exact solvers on known models: the theorems of the design note, checked numerically (section 5)."""
