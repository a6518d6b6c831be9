"""State files of submitted batches, so that a rerun resumes a batch instead of paying for it twice.

Each batch submitted by ``ehrbench record --batch`` gets one JSON file in
``<cassette root>/.batches/`` as soon as the provider has accepted it. The file names the batch
id, the protocol, the model entry and its base URL, and, for each ``custom_id``, the cassette,
the case, the request's position in the case and the SHA-256 digest of its request body. It
never contains prompt text, rows or a key. The file is removed once every result of the batch
is written to its cassette or reported.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ehrbench.recording.cassettes import RecordingError

logger = logging.getLogger(__name__)

#: Folder below the cassette root that contains the state files.
STATE_FOLDER = ".batches"

#: Format version written to each state file. A file of another version is rejected.
STATE_VERSION = 1

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class BatchStateError(RecordingError):
    """A state file cannot be read or does not describe a batch."""


@dataclass(frozen=True)
class StateEntry:
    """One request of a submitted batch.

    ``cassette`` is the cassette path relative to the cassette root (with ``/``), ``case`` the
    case slug, ``index`` the request's position in its case (from 0) of ``count`` requests, and
    ``digest`` the SHA-256 digest of the canonical unredacted request body.
    """

    cassette: str
    case: str
    index: int
    count: int
    digest: str


@dataclass(frozen=True)
class BatchState:
    """A submitted batch: its id, protocol, model entry, base URL and requests by ``custom_id``."""

    batch_id: str
    protocol: str
    model: str
    base_url: str
    requests: dict[str, StateEntry]
    submitted_at: str = ""
    #: The file that stores this state (set when it is saved or loaded).
    path: Path | None = field(default=None, compare=False)

    def label(self) -> str:
        """Return ``batch <id> of model <name>`` for messages."""
        return f"batch {self.batch_id} of model {self.model!r}"


def state_folder(cassette_root: Path) -> Path:
    """Return the folder of the state files below ``cassette_root``."""
    return Path(cassette_root) / STATE_FOLDER


def save_state(cassette_root: Path, state: BatchState) -> BatchState:
    """Write ``state`` to its file in one step (temporary file, then rename) and return it with ``path`` set."""
    folder = state_folder(cassette_root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_SAFE_NAME.sub('_', state.protocol)}-{_SAFE_NAME.sub('_', state.batch_id)}.json"
    document = {
        "version": STATE_VERSION,
        "batch_id": state.batch_id,
        "protocol": state.protocol,
        "model": state.model,
        "base_url": state.base_url,
        "submitted_at": state.submitted_at,
        "requests": {custom_id: asdict(entry) for custom_id, entry in state.requests.items()},
    }
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return replace(state, path=path)


def load_states(cassette_root: Path) -> list[BatchState]:
    """Return every state file below ``cassette_root``, sorted by file name.

    A file that is not a valid state raises :class:`BatchStateError` naming it.
    """
    folder = state_folder(cassette_root)
    if not folder.is_dir():
        return []
    return [_load(path) for path in sorted(folder.glob("*.json"))]


def remove_state(state: BatchState) -> None:
    """Delete the file of ``state``, unless it is already gone."""
    if state.path is not None:
        state.path.unlink(missing_ok=True)


def _load(path: Path) -> BatchState:
    advice = (
        "check the batch at the provider, then delete the file to let the next run submit its requests again"
    )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise BatchStateError(f"batch state file {path} cannot be read ({type(error).__name__}: {error}); {advice}") from error
    try:
        # A bool equals 1 and 1.0 equals 1 in Python, so the type is checked as well.
        if type(document["version"]) is not int or document["version"] != STATE_VERSION:
            raise ValueError(f"version {document['version']!r} is not {STATE_VERSION}")
        requests = {str(custom_id): _entry(entry) for custom_id, entry in document["requests"].items()}
        texts = [document[key] for key in ("batch_id", "protocol", "model", "base_url", "submitted_at")]
        if not all(isinstance(text, str) for text in texts) or not texts[0] or not requests:
            raise ValueError(
                "batch_id, protocol, model, base_url and submitted_at must be text, and batch_id and requests non-empty"
            )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        detail = f"{type(error).__name__}: {error}"
        raise BatchStateError(f"batch state file {path} is invalid ({detail}); {advice}") from error
    return BatchState(*texts[:4], requests=requests, submitted_at=texts[4], path=path)


def _entry(document: dict) -> StateEntry:
    entry = StateEntry(**document)
    if not all(isinstance(value, str) for value in (entry.cassette, entry.case, entry.digest)):
        raise ValueError(f"cassette, case and digest must be text in {document}")
    if not (type(entry.index) is int and type(entry.count) is int and 0 <= entry.index < entry.count):
        raise ValueError(f"index and count must be whole numbers with 0 <= index < count in {document}")
    return entry

