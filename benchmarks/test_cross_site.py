"""Cross-site generalisation: generate from one site, train on it, test on real rows of the others."""


def test_cross_site_auroc_drop(judge):
    judge("cross_site_auroc_drop")
