"""Privacy: distance to the closest training record, copies, and membership inference attacks."""

import pytest

PRIVACY_CRITERIA = [
    "dcr_ratio",
    "nndr_ratio",
    "exact_copy_excess",
    "near_copy_rate",
    "mia_distance_auroc",
    "mia_density_auroc",
]


@pytest.mark.parametrize("criterion", PRIVACY_CRITERIA)
def test_privacy(judge, criterion):
    judge(criterion)
