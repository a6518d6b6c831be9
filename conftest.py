"""Root conftest: the benchmark options and fixtures come from the ehrbench pytest plugin.

The plugin is registered by the package's ``pytest11`` entry point, so ``pip install -e .``
is all that ``pytest benchmarks/`` needs.
"""
