"""Pytest plugin for the sandbox cluster. Enable with
``pytest_plugins = ["tests.sandbox.fixtures"]`` in ``tests/conftest.py``."""
