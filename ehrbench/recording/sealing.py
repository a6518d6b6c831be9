"""Seal stored answers that contain a real patient row, so that a cassette never shows one.

A model may write back an example row or, by chance, a row equal to a real one. Such an answer
is still the model's output and is scored as written, but its text must not be committed.
Before a response is stored, :class:`AnswerSealer` looks for real rows in each answer with
:class:`~ehrbench.parsing.real_rows.RealRowFinder` and replaces every answer that contains one by
a sealed token::

    ehrbench-sealed:v1:<base64url of nonce (16 bytes) + tag (16 bytes) + ciphertext>

The key is derived from the real rows themselves (every part of the dataset, over the columns
of the case), so whoever has the data can unseal the answer and nobody else can read it.
Replay unseals each token with :func:`unseal_text` before parsing, which restores the answer
byte for byte: the tag (HMAC-SHA256) proves it, and an answer sealed with other data raises
:class:`SealError`. Scores therefore do not change when answers are sealed.

The cipher uses only the standard library: HMAC-SHA256 as a pseudorandom function in counter
mode for the key stream, and HMAC-SHA256 over nonce and ciphertext as the tag
(encrypt-then-MAC). Sealing hides rows from readers of the repository. It is not meant to
protect against someone who has the dataset, because that person has the rows already.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ehrbench.parsing import training_row_keys
from ehrbench.parsing.real_rows import RealRowFinder
from ehrbench.schema import TableSchema

logger = logging.getLogger(__name__)

#: Start of every sealed token.
SEAL_PREFIX = "ehrbench-sealed:v1:"

#: Key of the object that replaces an Anthropic tool input whose rows are sealed.
SEALED_TOOL_KEY = "ehrbench_sealed"

SEALED_TOKEN = re.compile(re.escape(SEAL_PREFIX) + r"[A-Za-z0-9_-]+")
_SEALED_TOOL_INPUT = re.compile(r'\{"' + SEALED_TOOL_KEY + r'": ?"(' + SEALED_TOKEN.pattern + r')"\}')

_NONCE_BYTES = 16
_TAG_BYTES = 16
_BLOCK_BYTES = 32
_KEY_CONTEXT = b"ehrbench answer seal v1"


class SealError(ValueError):
    """A sealed answer cannot be opened: it is damaged, or it was sealed with other real rows."""


def seal_key(real: pd.DataFrame, schema: TableSchema) -> bytes:
    """Return the 32-byte key of answers over ``schema``, derived from the rows of ``real``.

    The rows are keyed as exact-copy rejection keys them (six significant digits) over the
    columns in name order, sorted, and hashed with the column names, so the key depends neither
    on row or column order nor on float formatting.
    """
    ordered = schema.select(sorted(schema.names))
    keys = sorted(repr(key) for key in training_row_keys(real, ordered))
    digest = hmac.new(_KEY_CONTEXT, digestmod=hashlib.sha256)
    digest.update(json.dumps(ordered.names).encode("utf-8"))
    for key in keys:
        digest.update(key.encode("utf-8") + b"\n")
    return digest.digest()


def seal_text(text: str, key: bytes) -> str:
    """Return ``text`` sealed with ``key`` as one token (a fresh random nonce each call)."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    plain = text.encode("utf-8")
    cipher = bytes(a ^ b for a, b in zip(plain, _key_stream(key, nonce, len(plain))))
    tag = _tag(key, nonce, cipher)
    encoded = base64.urlsafe_b64encode(nonce + tag + cipher).decode("ascii").rstrip("=")
    return SEAL_PREFIX + encoded


def unseal_token(token: str, key: bytes) -> str:
    """Return the text sealed in ``token``; raise :class:`SealError` if it is damaged or of other rows."""
    if not token.startswith(SEAL_PREFIX):
        raise SealError(f"token: expected a value starting with {SEAL_PREFIX!r}")
    encoded = token[len(SEAL_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as error:
        raise SealError(f"sealed answer of {len(token)} characters is not valid base64 ({error})") from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise SealError(f"sealed answer of {len(token)} characters is too short to hold a nonce and a tag")

    nonce, tag, cipher = raw[:_NONCE_BYTES], raw[_NONCE_BYTES : _NONCE_BYTES + _TAG_BYTES], raw[_NONCE_BYTES + _TAG_BYTES :]
    if not hmac.compare_digest(tag, _tag(key, nonce, cipher)):
        raise SealError(
            "a sealed answer does not open with the key of these real rows: the dataset, its split or "
            "the case's columns differ from those it was recorded with; record the case again"
        )
    plain = bytes(a ^ b for a, b in zip(cipher, _key_stream(key, nonce, len(cipher))))
    return plain.decode("utf-8")


def unseal_text(text: str, key: bytes) -> str:
    """Return ``text`` with every sealed token (bare or as a sealed tool input) replaced by its answer."""
    if SEAL_PREFIX not in text:
        return text
    text = _SEALED_TOOL_INPUT.sub(lambda match: unseal_token(match.group(1), key), text)
    return SEALED_TOKEN.sub(lambda match: unseal_token(match.group(0), key), text)


def _key_stream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range(-(-length // _BLOCK_BYTES)):
        blocks.append(hmac.new(key, b"stream" + nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _tag(key: bytes, nonce: bytes, cipher: bytes) -> bytes:
    return hmac.new(key, b"tag" + nonce + cipher, hashlib.sha256).digest()[:_TAG_BYTES]


@dataclass
class AnswerSealer:
    """A response filter that seals every answer containing a real row (see the module docstring).

    It reads the stored response form of vcrpy: OpenAI chat completions (each choice's
    ``message.content`` and ``message.refusal``) and Anthropic messages (each text block, and
    each ``tool_use`` input, whose JSON text is sealed and stored as ``{"ehrbench_sealed": token}``).
    ``sealed`` counts the answers sealed so far.
    """

    finder: RealRowFinder
    key: bytes
    sealed: int = 0

    @classmethod
    def for_rows(cls, real: pd.DataFrame, schema: TableSchema) -> AnswerSealer:
        """Return the sealer of answers over ``schema`` that protects the rows of ``real``."""
        return cls(RealRowFinder(real, schema), seal_key(real, schema))

    def __call__(self, response: dict | None) -> dict | None:
        if response is None:
            return None
        body = response.get("body", {}).get("string")
        was_bytes = isinstance(body, bytes)
        try:
            document = json.loads(body.decode("utf-8") if was_bytes else body or "")
        except (ValueError, UnicodeDecodeError):
            return response
        if not isinstance(document, dict) or not self._seal_document(document):
            return response

        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        response = copy.deepcopy(response)
        response["body"]["string"] = text.encode("utf-8") if was_bytes else text
        return response

    def _seal_document(self, document: dict) -> bool:
        """Seal the answers of ``document`` in place; return True when one was sealed."""
        changed = False
        for choice in document.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            for field in ("content", "refusal"):
                if isinstance(message, dict) and isinstance(message.get(field), str):
                    sealed = self._sealed(message[field])
                    if sealed is not None:
                        message[field] = sealed
                        changed = True
        if document.get("type") == "message":
            for block in document.get("content") or []:
                changed = self._seal_block(block) or changed
        return changed

    def _seal_block(self, block: object) -> bool:
        if not isinstance(block, dict):
            return False
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            sealed = self._sealed(block["text"])
            if sealed is not None:
                block["text"] = sealed
                return True
        if block.get("type") == "tool_use" and isinstance(block.get("input"), dict):
            # The provider reads a tool input as this JSON text, so unsealing restores its answer.
            sealed = self._sealed(json.dumps(block["input"], ensure_ascii=False))
            if sealed is not None:
                block["input"] = {SEALED_TOOL_KEY: sealed}
                return True
        return False

    def _sealed(self, text: str) -> str | None:
        if text.startswith(SEAL_PREFIX) or not self.finder.contains(text):
            return None
        self.sealed += 1
        logger.info("sealed an answer of %d characters that contains a real row", len(text))
        return seal_text(text, self.key)


@dataclass
class LazySealer:
    """An :class:`AnswerSealer` built on first use, because building its finder renders every real row.

    ``real_rows`` returns the rows to protect; ``schema`` gives the columns of the case's answers.
    """

    real_rows: Callable[[], pd.DataFrame]
    schema: TableSchema
    _sealer: AnswerSealer | None = field(default=None, repr=False)

    def __call__(self, response: dict | None) -> dict | None:
        if self._sealer is None:
            self._sealer = AnswerSealer.for_rows(self.real_rows(), self.schema)
        return self._sealer(response)

    @property
    def sealed(self) -> int:
        """Return how many answers were sealed so far."""
        return 0 if self._sealer is None else self._sealer.sealed
