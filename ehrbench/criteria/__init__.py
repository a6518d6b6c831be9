"""Criteria: metric values judged against thresholds, each with a stated reason."""

from ehrbench.criteria.evaluation import Evaluator
from ehrbench.criteria.thresholds import Threshold, Verdict, load_thresholds

__all__ = ["Evaluator", "Threshold", "Verdict", "load_thresholds"]
