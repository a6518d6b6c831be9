"""Fidelity: mean per-feature KL divergence of the real test part from the synthetic rows."""


def test_kl_divergence(judge):
    judge("kl_divergence")
