"""Cassette names and the vcrpy configuration of replay and recording.

One cassette contains every request of one benchmark case, named from the case's values:
``cassettes/<dataset>/<model>/<strategy>-k<size>-n<rows>-r<replicate>.yaml``.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import vcr
import yaml
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serialize import serialize

from ehrbench.recording.redaction import DIGEST_HEADER, RequestRedactor, digest_matcher, redact_response
from ehrbench.recording.sealing import SealError, is_sealed, open_body, seal_body

logger = logging.getLogger(__name__)

RecordMode = Literal["replay", "record"]
RECORD_MODES = ("replay", "record")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CaseKey:
    """The values that name one benchmark case and its cassette."""

    dataset: str
    model: str
    strategy: str
    feature_set: str
    rows: int
    replicate: int
    #: ``column-value`` of the source site when the prompts show one site's rows only, else empty.
    site: str = ""

    @property
    def slug(self) -> str:
        slug = f"{self.strategy}-{self.feature_set}-n{self.rows}-r{self.replicate}"
        return f"{slug}-{self.site}" if self.site else slug

    def cassette_path(self, root: Path) -> Path:
        """Return the cassette file of this case below ``root``."""
        return Path(root) / _safe(self.dataset) / _safe(self.model) / f"{_safe(self.slug)}.yaml"


def _safe(part: str) -> str:
    return _SAFE_NAME.sub("_", part)


class CassetteMissing(LookupError):
    """Replay was asked for a case that has no cassette."""


class CassetteMismatch(AssertionError):
    """A request of a replayed case matches no request stored in its cassette."""


class CassetteError(RuntimeError):
    """A cassette file exists but cannot be read or contains an answer that is not a completion."""


class RecordingError(RuntimeError):
    """A request of a case failed while recording; the message names the case and the cassette."""


class CassetteWriteError(RecordingError):
    """A cassette could not be saved; the file on disk is the one saved before."""


class AtomicPersister(FilesystemPersister):
    """A vcrpy persister that replaces a cassette file in one step.

    The cassette is written to a temporary file beside it, flushed to disk, then renamed over
    the old file, so a process killed while saving leaves the previous complete cassette (and
    possibly a ``.<name>.*.tmp`` file). Saves are serialised by a lock shared by all threads.
    An OSError while saving raises :class:`CassetteWriteError`.
    """

    _lock = threading.Lock()

    @classmethod
    def save_cassette(cls, cassette_path, cassette_dict, serializer) -> None:
        data = serialize(cassette_dict, serializer)
        path = Path(cassette_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with cls._lock:
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.chmod(temporary, mode)
                os.replace(temporary, path)
            except BaseException as error:
                Path(temporary).unlink(missing_ok=True)
                if isinstance(error, OSError):
                    raise CassetteWriteError(
                        f"cassette {path} could not be saved ({type(error).__name__}: {error}); the file keeps "
                        "the requests saved before, so fix the cause and run the recording again"
                    ) from error
                raise


class SealingPersister:
    """A vcrpy persister that seals every response body on save and opens it on load.

    ``key`` returns the case's key (see :mod:`ehrbench.recording.sealing`); it is called once,
    on first use. Files are written by :class:`AtomicPersister`. A body stored in clear (a
    cassette recorded before sealing) loads as it is; ``ehrbench seal`` seals it.
    Opening fails with :class:`~ehrbench.recording.sealing.SealError` naming the file and the
    interaction.
    """

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key_source = key
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            self._key = self._key_source()
        return self._key

    def load_cassette(self, cassette_path, serializer):
        requests, responses = FilesystemPersister.load_cassette(cassette_path, serializer=serializer)
        opened = []
        for number, (request, response) in enumerate(zip(requests, responses), start=1):
            body = (response.get("body") or {}).get("string") if isinstance(response, dict) else None
            if not is_sealed(body):
                opened.append(response)
                continue
            try:
                plain = open_body(body, self.key(), request_digest(request))
            except SealError as error:
                raise type(error)(f"cassette {cassette_path}, interaction {number}: {error}") from None
            opened.append({**response, "body": {**response["body"], "string": plain}})
        return requests, opened

    def save_cassette(self, cassette_path, cassette_dict, serializer) -> None:
        sealed = []
        for request, response in zip(cassette_dict["requests"], cassette_dict["responses"]):
            body = response["body"]["string"]
            if not is_sealed(body):
                plain = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else bytes(body or b"")
                body = seal_body(plain, self.key(), request_digest(request))
            sealed.append({**response, "body": {**response["body"], "string": body}})
        AtomicPersister.save_cassette(cassette_path, {**cassette_dict, "responses": sealed}, serializer)


def request_digest(request) -> str:
    """Return the body digest that recording put into the headers of the stored ``request`` (empty if none)."""
    for name, value in request.headers.items():
        if name.lower() == DIGEST_HEADER:
            return value[0] if isinstance(value, list) else value
    return ""


def build_vcr(mode: RecordMode, redactor: RequestRedactor) -> vcr.VCR:
    """Return a VCR that replays only (``replay``) or also records missing requests (``record``).

    In replay mode vcrpy raises on any request it cannot answer from the cassette, so nothing
    reaches the network. Cassettes are saved with :class:`AtomicPersister`.
    """
    recorder = vcr.VCR(
        record_mode="none" if mode == "replay" else "new_episodes",
        match_on=("method", "path", "body_digest"),
        before_record_request=redactor,
        before_record_response=redact_response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("body_digest", digest_matcher)
    # Every production session sets seal_key; a redactor without one (unit tests of redaction)
    # stores bodies in clear, which the committed-cassette tests reject.
    recorder.register_persister(SealingPersister(redactor.seal_key) if redactor.seal_key else AtomicPersister)
    return recorder


@dataclass(frozen=True)
class StoredInteraction:
    """One stored request: its canonical redacted body, its digest and its response status."""

    body: str
    digest: str
    status: int


def stored_interactions(path: Path) -> list[StoredInteraction]:
    """Return the requests stored in the cassette at ``path``, in file order."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    interactions = document.get("interactions") or [] if isinstance(document, dict) else []
    stored = []
    for interaction in interactions:
        request = interaction.get("request", {}) if isinstance(interaction, dict) else {}
        body = request.get("body")
        digest = (request.get("headers", {}).get(DIGEST_HEADER) or [""])[0]
        status = interaction.get("response", {}).get("status", {}).get("code", 0)
        text = body.decode("utf-8") if isinstance(body, bytes) else str(body or "")
        stored.append(StoredInteraction(text, str(digest), int(status)))
    return stored


def explain_mismatch(path: Path, live_redacted_body: str, live_digest: str = "", max_lines: int = 40) -> str:
    """Describe how the live request differs from the closest request stored at ``path``."""
    stored = stored_interactions(path)
    if not stored:
        return f"cassette {path} holds no requests"
    same_digest = [item for item in stored if live_digest and item.digest == live_digest]
    if same_digest:
        return (
            f"cassette {path}: the request is stored, but its answer cannot be replayed (HTTP "
            f"{same_digest[0].status}, not a chat completion, or already used by an identical request)"
        )
    if live_redacted_body in [item.body for item in stored]:
        return (
            f"cassette {path}: the request text equals a stored one, but its real-data values "
            "(redacted in the cassette) differ: the dataset, its split, the feature ranking or "
            "the example rows changed since recording"
        )
    live_lines = _pretty(live_redacted_body)
    bodies = [item.body for item in stored]
    closest = max(bodies, key=lambda body: difflib.SequenceMatcher(None, _pretty(body), live_lines).ratio())
    diff = list(difflib.unified_diff(_pretty(closest), live_lines, "recorded", "current", lineterm="", n=1))
    shown = "\n".join(diff[:max_lines])
    more = f"\n... {len(diff) - max_lines} more diff lines" if len(diff) > max_lines else ""
    return (
        f"cassette {path}: no stored request matches ({len(stored)} stored); closest recorded request "
        f"vs current:\n{shown}{more}"
    )


def _pretty(body: str) -> list[str]:
    try:
        document = json.loads(body)
    except ValueError:
        return body.splitlines()
    lines = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False).splitlines()
    return [part for line in lines for part in line.split("\\n")]
