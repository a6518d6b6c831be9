"""Compare a run's leaderboard with a committed one; a replay must reproduce it exactly."""

from __future__ import annotations

import math

from ehrbench.report.leaderboard import Entry, Leaderboard

#: Relative tolerance of value comparisons; replays are deterministic, so this only absorbs
#: the last bits of float formatting.
RELATIVE_TOLERANCE = 1e-9


def compare(current: Leaderboard, expected: Leaderboard) -> list[str]:
    """Return one line per difference, for the datasets present in ``current``.

    Entries of datasets the current run did not include are ignored, so a run without the
    eICU folder can still be compared with a leaderboard that has eICU rows. The run's datasets
    are ``current.meta["datasets"]`` when set, so a run that scored nothing still differs.
    """
    datasets = set(current.meta.get("datasets") or current.datasets)
    now = {entry.key: entry for entry in current.entries}
    before = {entry.key: entry for entry in expected.entries if entry.dataset in datasets}

    differences = []
    for key in sorted(set(before) - set(now), key=str):
        differences.append(f"missing from this run: {_name(key)}")
    for key in sorted(set(now) - set(before), key=str):
        differences.append(f"not in the committed leaderboard: {_name(key)}")
    for key in sorted(set(now) & set(before), key=str):
        difference = _difference(now[key], before[key])
        if difference:
            differences.append(f"{_name(key)}: {difference}")
    return differences


def _difference(now: Entry, before: Entry) -> str:
    if not _close(now.value, before.value):
        return f"value {before.value!r} -> {now.value!r}"
    if now.passed != before.passed:
        return f"passed {before.passed} -> {now.passed}"
    if now.threshold != before.threshold:
        return f"threshold {before.threshold} -> {now.threshold}"
    return _details_difference(now.details, before.details, "details")


def _details_difference(now: object, before: object, path: str) -> str:
    """Return the first difference between two JSON-safe values as ``path before -> now``, or "".

    Dict keys are visited in sorted order and numbers (not bools) may differ within the
    value tolerance. A key present on one side only shows as ``absent`` on the other.
    """
    if isinstance(now, dict) and isinstance(before, dict):
        for key in sorted(set(now) | set(before)):
            if key not in before or key not in now:
                return f"{path}.{key} {_shown(before, key)} -> {_shown(now, key)}"
            difference = _details_difference(now[key], before[key], f"{path}.{key}")
            if difference:
                return difference
        return ""
    if isinstance(now, list) and isinstance(before, list):
        if len(now) != len(before):
            return f"{path} length {len(before)} -> {len(now)}"
        for index, (item_now, item_before) in enumerate(zip(now, before)):
            difference = _details_difference(item_now, item_before, f"{path}[{index}]")
            if difference:
                return difference
        return ""
    if _is_number(now) and _is_number(before):
        return "" if _close(now, before) else f"{path} {before!r} -> {now!r}"
    if type(now) is not type(before) or now != before:
        return f"{path} {before!r} -> {now!r}"
    return ""


def _shown(mapping: dict, key: str) -> str:
    return repr(mapping[key]) if key in mapping else "absent"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)


def _name(key: tuple) -> str:
    dataset, generator, strategy, feature_set, rows, replicate, criterion = key
    return f"{dataset}/{generator}/{strategy}/{feature_set}/n{rows}/r{replicate} {criterion}"
