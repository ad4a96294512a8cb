"""Test helpers, imported one way: ``from tests.helpers.<module> import ...``.

A few of them are also scripts that tests run in a subprocess of their own
(`lucid_oracle`, `slim_reference`, `backend_smoke`: each needs a Python set
up differently from the test process); those are run by path, never imported
by name from ``sys.path``.
"""
