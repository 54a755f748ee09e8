"""Promela models of the 2025 race and of the fixed protocol, checked by Spin.

- ``naive.pml``: the naive 2025 enactor, step for step as `safeguards.testing.naive` does it.
- ``fixed.pml``: the fixed protocol (fence compare-and-set, decision-bound repair, rollback and
  clean-up) with every fault.
- `runner`: the runs CI makes and what each must find; `trail`: a naive counterexample trail
  replayed in the Python race harness.

``python -m safeguards.testing.models`` runs them all (needs ``spin`` and ``gcc``); see
docs/formal-model.md.
"""
