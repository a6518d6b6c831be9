"""Seal the answers with real rows in cassettes recorded before sealing existed.

Recording seals answers as it stores them (:mod:`ehrbench.recording.sealing`). A cassette
recorded earlier, or one a user edited, is sealed in place by :func:`seal_cassette`: every
stored answer that contains a real row is replaced by its sealed token, and nothing else
changes, so replay gives the same answers and the same scores. ``ehrbench seal`` runs it over
a cassette folder.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from ehrbench.datasets import PreparedDataset
from ehrbench.datasets.sites import restrict_to_site
from ehrbench.features import FeatureSubset, build_subsets, parse_feature_set_size
from ehrbench.prompts import get_strategy
from ehrbench.recording.cassettes import AtomicPersister, CaseKey
from ehrbench.recording.redaction import redact_response
from ehrbench.recording.sealing import AnswerSealer
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"(?P<strategy>[A-Za-z0-9_]+)-(?P<size>k[A-Za-z0-9]+)-n(?P<rows>\d+)-r(?P<replicate>\d+)(?:-(?P<site>.+))?")


@dataclass(frozen=True)
class SealReport:
    """What :func:`seal_cassette` did to one file: answers read, answers newly sealed."""

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


def seal_cassette(path: Path, sealer: AnswerSealer) -> SealReport:
    """Seal every stored answer of the cassette at ``path`` that contains a real row, in place.

    The file is rewritten only when an answer was sealed, and then in one step
    (:class:`~ehrbench.recording.cassettes.AtomicPersister`).
    """
    requests, responses = FilesystemPersister.load_cassette(path, serializer=yamlserializer)
    before = sealer.sealed
    sealed_responses = []
    for response in responses:
        if redact_response(dict(response)) is None:
            # An error or unknown response is left as it is: replay never returns it as an answer.
            sealed_responses.append(response)
            continue
        sealed_responses.append(sealer(response))
    sealed = sealer.sealed - before
    if sealed:
        AtomicPersister.save_cassette(path, {"requests": requests, "responses": sealed_responses}, yamlserializer)
        logger.info("%s: sealed %d of %d answers", path, sealed, len(responses))
    return SealReport(Path(path), len(responses), sealed)
