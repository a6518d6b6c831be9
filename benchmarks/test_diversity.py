"""Diversity: repeated rows, and how much of the real categories and numeric ranges is covered."""

import pytest


@pytest.mark.parametrize("criterion", ["duplicate_row_excess", "category_coverage", "range_coverage"])
def test_diversity(judge, criterion):
    judge(criterion)
