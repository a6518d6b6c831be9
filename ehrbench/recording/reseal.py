"""Seal the response bodies of cassettes recorded before sealing existed (``ehrbench seal``).

Recording seals every response body as it saves a cassette (:mod:`ehrbench.recording.sealing`).
A cassette recorded earlier, or one a user edited, is sealed in place by :func:`seal_cassette`:
every body still in clear is replaced by its sealed token and nothing else changes, so replay
gives the same answers and the same scores. :func:`case_key_of` and :func:`case_schema` find
the case, and so the key, of a cassette file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from vcr.persisters.filesystem import CassetteNotFoundError, FilesystemPersister
from vcr.serializers import yamlserializer

from ehrbench.datasets import PreparedDataset
from ehrbench.datasets.sites import restrict_to_site
from ehrbench.features import FeatureSubset, build_subsets, parse_feature_set_size
from ehrbench.prompts import get_strategy
from ehrbench.recording.cassettes import CaseKey, CassetteError, SealingPersister
from ehrbench.recording.sealing import is_sealed
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"(?P<strategy>[A-Za-z0-9_]+)-(?P<size>k[A-Za-z0-9]+)-n(?P<rows>\d+)-r(?P<replicate>\d+)(?:-(?P<site>.+))?")


@dataclass(frozen=True)
class SealReport:
    """The outcome of :func:`seal_cassette` on one file: responses read, bodies newly sealed."""

    path: Path
    answers: int
    sealed: int


def case_key_of(path: Path, root: Path) -> CaseKey:
    """Return the case whose cassette is ``path`` below ``root`` (``<dataset>/<model>/<slug>.yaml``).

    Raises ValueError naming the file when its place or name is not one recording writes.
    """
    relative = Path(path).resolve().relative_to(Path(root).resolve())
    if len(relative.parts) != 3 or relative.suffix != ".yaml":
        raise ValueError(f"cassette {path}: expected <dataset>/<model>/<case>.yaml below {root}")
    match = _SLUG.fullmatch(relative.stem)
    if match is None:
        raise ValueError(f"cassette {path}: name {relative.stem!r} is not <strategy>-k<size>-n<rows>-r<replicate>[-<site>]")
    dataset, model, _ = relative.parts
    return CaseKey(
        dataset,
        model,
        match["strategy"],
        match["size"],
        int(match["rows"]),
        int(match["replicate"]),
        match["site"] or "",
    )


def case_schema(prepared: PreparedDataset, key: CaseKey) -> TableSchema:
    """Return the columns the answers of case ``key`` are written in, as recording builds them."""
    size = parse_feature_set_size(key.feature_set)
    subset = build_subsets(prepared, (size,))[0]
    if key.site:
        # A site case prompts with the source site's rows and leaves the site columns out of its
        # features, as runner.site_sources does. Strategies may order columns on those rows.
        columns = prepared.dataset.site_columns
        column = next((name for name in columns if key.site.startswith(f"{name}-")), None)
        if column is None:
            raise ValueError(f"case {key.slug}: site {key.site!r} names none of the site columns {list(columns)}")
        prepared = restrict_to_site(prepared, column, key.site[len(column) + 1 :])
        subset = FeatureSubset(subset.size, tuple(name for name in subset.features if name not in columns))
    return get_strategy(key.strategy).generation_schema(prepared, subset)


def seal_cassette(path: Path, key: bytes) -> SealReport:
    """Seal, in place, every response body of the cassette at ``path`` that is still in clear.

    The file is rewritten only when a body was sealed, and then in one step. A file that is not
    a cassette raises :class:`~ehrbench.recording.cassettes.CassetteError` naming it.
    """
    try:
        requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
        clear = sum(not is_sealed((response.get("body") or {}).get("string")) for response in responses)
    except (CassetteNotFoundError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise CassetteError(
            f"cassette {path} cannot be read ({type(error).__name__}: {error or 'empty or not a file'}); "
            "delete it and record the case again"
        ) from error
    if clear:
        SealingPersister(lambda: key).save_cassette(path, {"requests": requests, "responses": responses}, yamlserializer)
        logger.info("%s: sealed %d of %d response bodies", path, clear, len(responses))
    return SealReport(Path(path), len(responses), clear)
