"""Generators of synthetic rows: the LLM generator and the reference generators without a model."""
