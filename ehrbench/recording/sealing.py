"""Seal every stored response body, so that no answer a model wrote can be read from a cassette.

A model may write back an example row, or by chance a row equal to a real one: at five features
35 to 47% of plausible rows equal some real row (docs/benchmarks.md). Answers also come in many
shapes (text, tool input, several content blocks, reasoning fields), so searching them for rows
would leave gaps. Recording therefore seals the whole body of every stored response, and keeps the request
(already redacted) readable::

    ehrbench-sealed:v3:<key id>:<lower-case base32 of nonce (16 bytes) + tag (16 bytes) + ciphertext>

The ciphertext is written in lower-case base32 (letters and the digits 2 to 7). That alphabet
has no ``-`` or ``_`` and no capitals, so no run of it can look like a provider key prefix such
as ``sk-``, ``AKIA`` or ``ghp_``, which base64 produced by chance and secret scanners flagged.

The key comes from the real rows of the case (every part of the dataset, over the case's
columns), so whoever has the data can open a body and nobody else can read it. The cipher uses
the standard library only: HMAC-SHA256 as a pseudorandom function in counter mode for the key
stream, and HMAC-SHA256 over the request digest, nonce and ciphertext as the tag. The nonce is
derived from the key, the request digest and the body (as in SIV), so sealing the same body again
gives the same token and a cassette saved twice does not change. The tag binds a body to the
digest of its request, so a body moved to another interaction does not open. The key id (8 hex
digits of an HMAC of the key) tells a cassette recorded from other real rows from a damaged
one; it reveals nothing about the rows to someone without them. Sealing hides
answers from readers of the repository; it does not protect them from someone who has the
dataset, who has the rows already.

:class:`~ehrbench.recording.cassettes.SealingPersister` seals on save and opens on load, so vcrpy,
the SDKs and the parsers only ever see the original bodies, byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re

import pandas as pd

from ehrbench.parsing import training_row_keys
from ehrbench.schema import TableSchema

#: Start of every sealed body.
SEAL_PREFIX = "ehrbench-sealed:v3:"

#: A sealed body anywhere in a text (for scanners); a stored body is one whole token.
SEALED_TOKEN = re.compile(re.escape(SEAL_PREFIX) + r"[0-9a-f]{8}:[a-z2-7]+")

_NONCE_BYTES = 16
_TAG_BYTES = 16
_BLOCK_BYTES = 32
_KEY_CONTEXT = b"ehrbench response seal v2"


class SealError(ValueError):
    """A sealed body cannot be opened: it was damaged or moved to another request."""


class SealKeyMismatch(SealError):
    """A sealed body was sealed with the key of other real rows than those of the case now."""


def seal_key(real: pd.DataFrame, schema: TableSchema) -> bytes:
    """Return the 32-byte key of a case over ``schema``, derived from the rows of ``real``.

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


def is_sealed(body: object) -> bool:
    """Return True when ``body`` (str or bytes) is one whole sealed token."""
    if isinstance(body, bytes):
        body = body.decode("ascii", errors="replace")
    return isinstance(body, str) and SEALED_TOKEN.fullmatch(body) is not None


def seal_body(body: bytes, key: bytes, context: str) -> str:
    """Return ``body`` sealed with ``key`` for the request whose digest is ``context``."""
    if not isinstance(body, bytes):
        raise TypeError(f"body: expected bytes, got {type(body).__name__}")
    bound = _bound(context)
    nonce = hmac.new(key, b"nonce" + bound + body, hashlib.sha256).digest()[:_NONCE_BYTES]
    cipher = _xor(body, _key_stream(key, nonce, len(body)))
    tag = _tag(key, bound, nonce, cipher)
    encoded = base64.b32encode(nonce + tag + cipher).decode("ascii").rstrip("=").lower()
    return f"{SEAL_PREFIX}{key_id(key)}:{encoded}"


def key_id(key: bytes) -> str:
    """Return the 8 hex digits that name ``key`` in its tokens."""
    return hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:8]


def open_body(token: str | bytes, key: bytes, context: str) -> bytes:
    """Return the body sealed in ``token`` for the request whose digest is ``context``.

    ``token`` is a str, or ASCII bytes as vcrpy loads stored bodies.

    Raises :class:`SealKeyMismatch` when it was sealed with the key of other real rows, and
    :class:`SealError` when it is damaged or belongs to another request.
    """
    if not is_sealed(token):
        raise SealError(f"a stored body of {len(token)} characters is not a whole {SEAL_PREFIX}... token")
    if isinstance(token, bytes):
        token = token.decode("ascii")
    recorded_id, encoded = token[len(SEAL_PREFIX) :].split(":", 1)
    if recorded_id != key_id(key):
        raise SealKeyMismatch(
            "the cassette was recorded with other real-data values: the dataset, its split or the case's "
            "columns changed since recording"
        )
    try:
        raw = base64.b32decode(encoded.upper() + "=" * (-len(encoded) % 8))
    except (binascii.Error, ValueError) as error:
        raise SealError(f"a sealed body of {len(token)} characters is damaged (invalid base32: {error})") from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise SealError(f"a sealed body of {len(token)} characters is damaged (too short for a nonce and a tag)")

    nonce, tag, cipher = raw[:_NONCE_BYTES], raw[_NONCE_BYTES : _NONCE_BYTES + _TAG_BYTES], raw[_NONCE_BYTES + _TAG_BYTES :]
    if not hmac.compare_digest(tag, _tag(key, _bound(context), nonce, cipher)):
        raise SealError("a sealed body does not open: the file was edited or damaged, or the body was moved to another request")
    return _xor(cipher, _key_stream(key, nonce, len(cipher)))


def _bound(context: str) -> bytes:
    encoded = context.encode("utf-8")
    return len(encoded).to_bytes(4, "big") + encoded


def _key_stream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range(-(-length // _BLOCK_BYTES)):
        blocks.append(hmac.new(key, b"stream" + nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _tag(key: bytes, bound: bytes, nonce: bytes, cipher: bytes) -> bytes:
    return hmac.new(key, b"tag" + bound + nonce + cipher, hashlib.sha256).digest()[:_TAG_BYTES]


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big") if data else b""
