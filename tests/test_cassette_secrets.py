"""Tests that no API key, token, cookie or organisation id can reach a cassette.

The scanner defined here reads a file twice. The raw text gives exact line numbers. For a YAML
file, the node tree of ``yaml.compose`` also gives the value of each double-quoted scalar, where
an escaped line break can split a token, and of each ``!!binary`` body, gzip-compressed or not.
A hit found only that way reports the first line of the scalar that contains it. The scanner
flags:

* provider keys by their prefixes: OpenAI (``sk-``, ``sk-proj-``, ``sess-``), Anthropic
  (``sk-ant-``), Google (``AIza``), AWS access key ids (``AKIA``, ``ASIA``) and GitHub tokens
  (``ghp_`` and the other ``gh?_`` forms, ``github_pat_``);
* bearer tokens, JWT-shaped strings, OpenAI organisation ids (``org-``) and project ids (``proj_``);
* a YAML or JSON key named like a credential header in :data:`SECRET_HEADERS`, in any case;
* cookie values: ``name=value`` with a session-like name, or in the ``Set-Cookie`` form;
* long high-entropy runs, as defined at :data:`MIN_RUN_LENGTH`.

The one exception is the value format of the digest header: a single ``sha256:`` followed by 64
lower-case hex digits, as the first item under the ``x-ehrbench-body-digest`` key. Sealed
bodies (``ehrbench-sealed:v3:...``) are exempt from the high-entropy rule only; the tests of
tests/test_cassette_rows.py open each of them with the key of the real rows and scan the body.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import json
import logging
import math
import random
import re
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import openai
import pytest
import yaml
from vcr.serializers import yamlserializer

from ehrbench.datasets import PreparedDataset
from ehrbench.features import FeatureSubset
from ehrbench.prompts import get_strategy
from ehrbench.providers import ModelConfig, OpenAICompatibleProvider
from ehrbench.recording.sealing import SEALED_TOKEN
from ehrbench.recording import DIGEST_HEADER, LLMCase, RequestRedactor, build_prompts, build_vcr, collect_completions
from anthropic_stub import AnthropicStub
from openai_stub import OpenAIStub

logger = logging.getLogger(__name__)

CASSETTE_ROOT = Path(__file__).resolve().parents[1] / "cassettes"

#: Credential headers that must never be stored, on requests or responses.
SECRET_HEADERS = (
    "authorization",
    "x-api-key",
    "api-key",
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
    "cookie",
    "set-cookie",
)

#: Minimum length in characters of a base64 or hex run that the entropy rules judge. A base64
#: run (``A-Z a-z 0-9 + / _``, ``=`` padding) is flagged when it has upper case, lower case and
#: digits and at least BASE64_MIN_ENTROPY bits per character. A hex run that is not part of a
#: longer alphanumeric word is flagged when it has a letter and at least HEX_MIN_ENTROPY bits per
#: character. A hyphen ends a run, so UUIDs and ids such as ``chatcmpl-`` followed by 29
#: characters are judged in parts below this length.
MIN_RUN_LENGTH = 32
#: Shannon entropy in bits per character. In 20,000 random 32-character strings from Python's
#: ``secrets`` module, the lowest entropy was 3.91 for the base64url alphabet and 2.98 for hex.
BASE64_MIN_ENTROPY = 3.75
HEX_MIN_ENTROPY = 2.9

_HEADER_NAMES = "|".join(re.escape(name) for name in SECRET_HEADERS)
#: Cookie names that the ``name=value`` cookie rule accepts (matched in full, any case).
_COOKIE_NAME = re.compile(
    r"(?i)[\w.-]*(?:session|sess|sid|token|auth|csrf|xsrf)[\w.-]*"
    r"|__cf_bm|_cfuvid|cf_clearance|__(?:secure|host)-[\w.-]+|awsalb\w*"
)

#: (kind, pattern). The named group ``secret``, where present, is the part that is reported, and
#: a match with a group ``cookie`` counts only when that group is a name of :data:`_COOKIE_NAME`.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic-key", re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai-key", re.compile(r"(?<![\w-])sk-(?!ant-)[A-Za-z0-9_-]{20,}")),
    ("openai-session-key", re.compile(r"(?<![\w-])sess-[A-Za-z0-9]{20,}")),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_-]{35}")),
    ("aws-access-key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("github-token", re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("bearer-token", re.compile(r"(?i)\bbearer\s+(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{16,}=*")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    ("organization-id", re.compile(r"(?<![\w-])org-[A-Za-z0-9]{16,}")),
    ("project-id", re.compile(r"(?<![\w-])proj_[A-Za-z0-9]{16,}")),
    (
        "secret-header",
        re.compile(rf"(?im)(?:^|(?<=[\s{{,\[]))([\"']?)(?P<secret>{_HEADER_NAMES})\1\s*:(?=\s|$|[\"'\[{{])"),
    ),
    ("cookie-value", re.compile(r"(?<![\w.-])(?P<cookie>[\w.-]+)=[^\s;,'\"&]{6,}")),
    (
        "cookie-value",
        re.compile(r"(?i)(?<![\w.-])[\w.-]+=[^\s;'\"]+;\s*(?:path|domain|expires|max-age|httponly|secure|samesite)\b"),
    ),
)

_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/_]{{{MIN_RUN_LENGTH},}}={{0,2}}")
_HEX_RUN = re.compile(rf"(?<![A-Za-z0-9])[0-9a-fA-F]{{{MIN_RUN_LENGTH},}}(?![A-Za-z0-9])")
_DIGEST_VALUE = re.compile(r"sha256:[0-9a-f]{64}")
_DIGEST_ITEM = re.compile(
    rf"(?m)^([ \t]*){re.escape(DIGEST_HEADER)}:[ \t]*\r?\n\1- sha256:(?P<hex>[0-9a-f]{{64}})[ \t]*$"
)
_BINARY_TAG = "tag:yaml.org,2002:binary"


@dataclass(frozen=True)
class SecretHit:
    """One key-like string in a file; ``masked`` keeps only a few characters of it."""

    path: Path
    line: int
    kind: str
    masked: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.masked}"


def mask(secret: str) -> str:
    """Return the first 4 and last 2 characters of ``secret`` (first 2 if shorter than 12) and its length."""
    visible = f"{secret[:4]}...{secret[-2:]}" if len(secret) >= 12 else f"{secret[:2]}..."
    return f"{visible} ({len(secret)} characters)"


def shannon_entropy(text: str) -> float:
    """Return the Shannon entropy of the characters of ``text`` in bits per character (0.0 if empty)."""
    counts = Counter(text)
    return -sum(count / len(text) * math.log2(count / len(text)) for count in counts.values())


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def _high_entropy_runs(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for match in _HEX_RUN.finditer(text):
        run = match.group()
        if re.search("[a-fA-F]", run) and shannon_entropy(run) >= HEX_MIN_ENTROPY:
            yield match.span(), "high-entropy-hex"
    for match in _BASE64_RUN.finditer(text):
        run = match.group()
        mixed = all(re.search(characters, run) for characters in ("[A-Z]", "[a-z]", "[0-9]"))
        if mixed and shannon_entropy(run) >= BASE64_MIN_ENTROPY:
            yield match.span(), "high-entropy-base64"


def find_secrets(text: str) -> list[tuple[int, str, str]]:
    """Return ``(offset, kind, matched text)`` for every key-like string in ``text``, by offset.

    A high-entropy run is reported only where no named kind matched, and a digest-header value
    of the allowed format is skipped.
    """
    found = []
    claimed = [match.span("hex") for match in _DIGEST_ITEM.finditer(text)]

    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            if "cookie" in pattern.groupindex and not _COOKIE_NAME.fullmatch(match.group("cookie")):
                continue
            start, end = match.span("secret") if "secret" in pattern.groupindex else match.span()
            found.append((start, kind, text[start:end]))
            claimed.append(match.span())

    # A sealed body is ciphertext, so its entropy says nothing. The named patterns above still apply
    # to it, and tests/test_cassette_rows.py opens each one and scans the body inside.
    claimed += [match.span() for match in SEALED_TOKEN.finditer(text)]
    for span, kind in _high_entropy_runs(text):
        if not _overlaps(span, claimed):
            found.append((span[0], kind, text[span[0] : span[1]]))
            claimed.append(span)
    return sorted(found)


def _binary_text(value: str) -> str:
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except binascii.Error:
        return value
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            logger.warning("failed to decompress a gzip !!binary scalar (%s), so its raw bytes are scanned", error)
    return data.decode("utf-8", errors="replace")


def _node_hits(root: yaml.Node) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line, kind, matched text)`` for the keys and decoded scalars below ``root``."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, parent_key = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))

        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                key_text = key.value if isinstance(key, yaml.ScalarNode) else ""
                if key_text.lower() in SECRET_HEADERS:
                    yield key.start_mark.line + 1, "secret-header", key_text
                stack.extend([(key, ""), (value, key_text)])
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, parent_key) for item in node.value)
        elif isinstance(node, yaml.ScalarNode):
            # A plain, single-quoted or block scalar differs from its raw text only in line breaks
            # and doubled quotes, which never fall inside a token, so the raw scan covers it.
            if node.style != '"' and node.tag != _BINARY_TAG:
                continue
            if parent_key == DIGEST_HEADER and _DIGEST_VALUE.fullmatch(node.value):
                continue
            text = _binary_text(node.value) if node.tag == _BINARY_TAG else node.value
            for _, kind, secret in find_secrets(text):
                yield node.start_mark.line + 1, kind, secret


def scan_text(text: str, path: Path) -> list[SecretHit]:
    """Return the key-like strings of ``text`` (the content of ``path``), in line order.

    Every raw-text hit is returned. A hit found only in the YAML node tree is added once per
    kind and text. Text that is not valid YAML is logged and scanned as raw text only.
    """
    hits = []
    found = set()
    for offset, kind, secret in find_secrets(text):
        hits.append((text.count("\n", 0, offset) + 1, kind, secret))
        found.add((kind, secret))

    if path.suffix in (".yaml", ".yml"):
        try:
            root = yaml.compose(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as error:
            logger.warning("%s is not valid YAML (%s); only its raw text was scanned", path, error)
            root = None
        for line, kind, secret in _node_hits(root) if root is not None else ():
            if (kind, secret) not in found:
                hits.append((line, kind, secret))
                found.add((kind, secret))

    # A header name is no secret, so it is reported in full.
    masked = [
        SecretHit(path, line, kind, secret if kind == "secret-header" else mask(secret)) for line, kind, secret in hits
    ]
    return sorted(masked, key=lambda hit: (hit.line, hit.kind))


def scan_file(path: Path) -> list[SecretHit]:
    """Return the key-like strings in the file at ``path``. A file removed meanwhile is logged and skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        # A recording that runs meanwhile renames its temporary cassette files away.
        logger.warning("%s was removed while the cassettes were scanned, so it was not scanned", path)
        return []
    return scan_text(data.decode("utf-8", errors="replace"), path)


def report(hits: list[SecretHit]) -> str:
    """Return a failure message that lists every hit with its file, line, kind and masked text."""
    lines = "\n".join(str(hit) for hit in hits)
    return (
        f"{len(hits)} key-like strings found in cassettes:\n{lines}\nRemove them from the cassette, or "
        "record it again, and check that ehrbench/recording/redaction.py drops what carried them."
    )


def test_committed_cassettes_hold_no_secret() -> None:
    files = sorted(path for path in CASSETTE_ROOT.rglob("*") if path.is_file())
    yaml_files = [path for path in files if path.suffix == ".yaml"]
    assert yaml_files, f"no YAML file under {CASSETTE_ROOT}, so the scan would check nothing"

    hits = [hit for path in files for hit in scan_file(path)]
    assert hits == [], report(hits)


# Self-test of the scanner on planted values. Every value is built at run time, so that this
# file contains no literal that a code host's secret scanner would flag.

BASE62 = string.ascii_letters + string.digits
BASE64URL = BASE62 + "-_"
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits


def fake(prefix: str, alphabet: str, length: int) -> str:
    """Return ``prefix`` and ``length`` characters of ``alphabet``, the same on every run."""
    chooser = random.Random(f"{prefix}|{alphabet}|{length}")
    return prefix + "".join(chooser.choices(alphabet, k=length))


def fake_jwt() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"stub-user","iat":1700000000}').rstrip(b"=").decode()
    return f"{header}.{payload}.{fake('', BASE64URL, 43)}"


def fake_uuid() -> str:
    digits = fake("", HEX, 32)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def cassette_document(answer: str = '{"rows": [[63.5, 0, 1], [41.0, 1, 0]]}') -> dict:
    """Return a cassette of one chat completion, shaped as vcrpy stores it."""
    request = {"messages": [{"role": "user", "content": "Generate 2 rows. Batch 1, seed 7."}], "model": "m"}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    completion = {
        "id": f"chatcmpl-{fake_uuid()}",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 310, "completion_tokens": 41, "total_tokens": 351},
    }
    return {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "body": canonical,
                    "headers": {"content-type": ["application/json"], DIGEST_HEADER: [f"sha256:{fake('', HEX, 64)}"]},
                    "method": "POST",
                    "uri": "http://127.0.0.1:8765/v1/chat/completions",
                },
                "response": {
                    "body": {"string": json.dumps(completion)},
                    "headers": {"content-type": ["application/json"]},
                    "status": {"code": 200, "message": "OK"},
                },
            }
        ],
    }


def anthropic_document() -> dict:
    """Return a cassette of one Messages API message with ids of the lengths the API sends."""
    document = cassette_document()
    message = {
        "id": fake("msg_01", BASE62, 22),
        "type": "message",
        "content": [{"type": "tool_use", "id": fake("toolu_01", BASE62, 22), "name": "rows", "input": {"rows": []}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 321, "output_tokens": 17},
    }
    document["interactions"][0]["response"]["body"]["string"] = json.dumps(message)
    return document


def planted_cassette(location: str, value: str) -> str:
    """Return cassette YAML with ``value`` planted at ``location``.

    ``location`` is ``request-header:NAME``, ``response-header:NAME``, ``request-body``,
    ``response-body``, ``uri``, ``digest`` (the digest header's value), ``escaped`` (split by a
    YAML line escape inside the value) or ``binary`` (a gzip-compressed ``!!binary`` body).
    """
    if location == "escaped":
        # A double-quoted YAML scalar joins a line that ends in a backslash to the next line
        # without a space, so the raw text holds only the two halves of the value.
        scalar = '"{\\"content\\": \\"' + value[:5] + "\\\n        " + value[5:] + '\\"}"'
        return f"interactions:\n- response:\n    body:\n      string: {scalar}\n"

    document = cassette_document()
    request = document["interactions"][0]["request"]
    response = document["interactions"][0]["response"]
    where, _, name = location.partition(":")

    if where == "request-header":
        request["headers"][name] = [value]
    elif where == "response-header":
        response["headers"][name] = [value]
    elif where == "request-body":
        request["body"] = request["body"].replace("Batch 1", f"Batch 1 {value}")
    elif where == "response-body":
        response["body"]["string"] = response["body"]["string"].replace("[63.5", f'["{value}", 63.5')
    elif where == "uri":
        request["uri"] += f"?key={value}"
    elif where == "digest":
        request["headers"][DIGEST_HEADER] = [value]
    elif where == "binary":
        response["body"]["string"] = gzip.compress(json.dumps({"note": value}).encode("utf-8"), mtime=0)
    else:
        raise ValueError(f"location {location!r} is unknown; use one listed in the docstring")
    return yamlserializer.serialize(document)


PLANTED = [
    pytest.param("openai-key", "response-body", fake("sk-proj-", BASE64URL, 48), id="openai-project-key"),
    pytest.param("openai-key", "request-body", fake("sk-", BASE62, 48), id="openai-key"),
    pytest.param("openai-session-key", "response-body", fake("sess-", BASE62, 40), id="openai-session-key"),
    pytest.param("anthropic-key", "response-body", fake("sk-ant-api03-", BASE64URL, 93), id="anthropic-key"),
    pytest.param("google-api-key", "uri", fake("AIza", BASE64URL, 35), id="google-api-key"),
    pytest.param("aws-access-key", "response-body", fake("AK" + "IA", UPPER_DIGITS, 16), id="aws-access-key"),
    pytest.param("github-token", "response-body", fake("gh" + "p_", BASE62, 36), id="github-classic-token"),
    pytest.param("github-token", "response-body", fake("github_" + "pat_", BASE62 + "_", 82), id="github-fine-token"),
    pytest.param("bearer-token", "response-header:x-upstream", "Bearer " + fake("", BASE62, 24), id="bearer-token"),
    pytest.param("jwt", "response-body", fake_jwt(), id="jwt"),
    pytest.param("organization-id", "response-header:x-owner", fake("org-", BASE62, 24), id="organization-id"),
    pytest.param("project-id", "response-body", fake("proj_", BASE62, 24), id="project-id"),
    pytest.param("cookie-value", "response-header:x-state", "sessionid=" + fake("", BASE62, 24), id="cookie-pair"),
    pytest.param(
        "cookie-value", "response-body", f"__cf_bm={fake('', BASE62, 20)}; path=/; HttpOnly", id="set-cookie-form"
    ),
    pytest.param("high-entropy-base64", "response-body", fake("", BASE62 + "+/", 40), id="base64-run"),
    pytest.param("high-entropy-hex", "response-header:x-request-id", fake("", HEX, 32), id="hex-request-id"),
    pytest.param("high-entropy-hex", "response-body", f"sha256:{fake('', HEX, 64)}", id="digest-format-in-body"),
    pytest.param("high-entropy-hex", "digest", fake("", HEX, 64), id="digest-without-prefix"),
    pytest.param("high-entropy-hex", "digest", f"sha256:{fake('', HEX, 64).upper()}", id="digest-upper-case"),
    pytest.param("openai-key", "escaped", fake("sk-proj-", BASE62, 40), id="escaped-line-break"),
    pytest.param("openai-key", "binary", fake("sk-proj-", BASE62, 44), id="gzip-binary-body"),
]
PLANTED += [
    pytest.param("secret-header", f"{side}-header:{name}", "x", id=f"header-{name}-{side}")
    for name, side in zip(
        (
            "Authorization",
            "X-API-Key",
            "api-key",
            "OpenAI-Organization",
            "OPENAI-PROJECT",
            "anthropic-organization-id",
            "Cookie",
            "Set-Cookie",
        ),
        ("request", "request", "request", "response", "request", "response", "request", "response"),
    )
]


@pytest.mark.parametrize(("kind", "location", "value"), PLANTED)
def test_scanner_flags_planted_secret(kind: str, location: str, value: str, tmp_path: Path) -> None:
    path = tmp_path / "planted.yaml"
    path.write_text(planted_cassette(location, value), encoding="utf-8")

    hits = scan_file(path)

    assert kind in {hit.kind for hit in hits}, report(hits)
    for hit in hits:
        assert hit.path == path
        assert 1 <= hit.line <= len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(cassette_document(), id="chat-completion"),
        pytest.param(cassette_document("the session token count of each organization project"), id="credential-words"),
        pytest.param(anthropic_document(), id="anthropic-message"),
        pytest.param({"version": 1, "interactions": []}, id="no-interactions"),
    ],
)
def test_scanner_passes_clean_cassette(document: dict, tmp_path: Path) -> None:
    path = tmp_path / "clean.yaml"
    path.write_text(yamlserializer.serialize(document), encoding="utf-8")
    assert scan_file(path) == []


def test_report_names_line_and_masks(tmp_path: Path) -> None:
    key = fake("sk-proj-", BASE62, 48)
    path = tmp_path / "planted.yaml"
    path.write_text(planted_cassette("response-body", key), encoding="utf-8")

    hits = [hit for hit in scan_file(path) if hit.kind == "openai-key"]
    message = report(hits)

    assert len(hits) == 1
    assert key in path.read_text(encoding="utf-8").splitlines()[hits[0].line - 1]
    assert f"{path}:{hits[0].line}: openai-key: {key[:4]}...{key[-2:]} ({len(key)} characters)" in message
    assert key not in message
    assert key not in repr(hits)


def test_scanner_survives_recursive_alias(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text(f"loop: &loop\n  - *loop\n  - {fake('sk-', BASE62, 48)}\n", encoding="utf-8")
    assert [hit.kind for hit in scan_file(path)] == ["openai-key"]


# End-to-end recordings through the stubs, with every credential header on both sides.

KEY_VARIABLE = "EHRBENCH_TEST_SECRET_SCAN_KEY"

API_KEYS = {"openai": fake("sk-proj-", BASE64URL, 64), "anthropic": fake("sk-ant-api03-", BASE64URL, 86)}

#: Headers that the test's SDK clients add to every request, besides the SDK's Authorization.
REQUEST_HEADERS = {
    "x-api-key": fake("sk-ant-api03-", BASE64URL, 80),
    "api-key": fake("", HEX, 32),
    "OpenAI-Organization": fake("org-", BASE62, 24),
    "OpenAI-Project": fake("proj_", BASE62, 24),
    "Cookie": f"sessionid={fake('', BASE62, 32)}",
}

#: Headers that the stubs send with every 200 response.
RESPONSE_HEADERS = {
    "Authorization": f"Bearer {fake_jwt()}",
    "x-api-key": fake("AIza", BASE64URL, 35),
    "api-key": fake("AK" + "IA", UPPER_DIGITS, 16),
    "OpenAI-Organization": fake("org-", BASE62, 26),
    "OpenAI-Project": fake("proj_", BASE62, 26),
    "anthropic-organization-id": fake_uuid(),
    "Set-Cookie": f"__cf_bm={fake('', BASE62, 43)}; path=/; HttpOnly; Secure; SameSite=None",
    "Cookie": f"session={fake('', BASE62, 30)}",
    "x-request-id": fake("req_", HEX, 32),
    "request-id": fake("req_", BASE62, 24),
}

STORED_NAMES = SECRET_HEADERS + ("x-request-id", "request-id")


def add_default_headers(
    monkeypatch: pytest.MonkeyPatch, module: object, class_name: str, headers: dict[str, str]
) -> None:
    """Make every client of ``module.class_name`` that the providers create send ``headers``."""
    client_class = getattr(module, class_name)

    class WithHeaders(client_class):
        def __init__(self, **settings) -> None:
            super().__init__(**settings, default_headers=headers)

    monkeypatch.setattr(module, class_name, WithHeaders)


def stub_config(provider: str, base_url: str) -> ModelConfig:
    if provider == "openai":
        return ModelConfig("stub-model", base_url=base_url, api_key_env=KEY_VARIABLE, rows_per_request=5)
    return ModelConfig(
        "stub-claude",
        provider="anthropic",
        model="claude-stub",
        base_url=base_url,
        structured_output="tool_schema",
        api_key_env=KEY_VARIABLE,
        rows_per_request=5,
    )


@pytest.fixture(scope="module", params=["openai", "anthropic"])
def recording(
    request: pytest.FixtureRequest,
    prepared: PreparedDataset,
    subset: FeatureSubset,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, list, Path]:
    """Record the RHC case naive/k5 with 10 rows through one stub.

    Returns the provider name, the requests that the stub received and the cassette path.
    """
    provider = request.param
    folder = tmp_path_factory.mktemp(f"cassettes-{provider}")
    if provider == "openai":
        module, class_name, stub_class = openai, "OpenAI", OpenAIStub
    else:
        module, class_name, stub_class = anthropic, "Anthropic", AnthropicStub

    with pytest.MonkeyPatch.context() as monkeypatch, stub_class(response_headers=RESPONSE_HEADERS) as stub:
        monkeypatch.setenv(KEY_VARIABLE, API_KEYS[provider])
        add_default_headers(monkeypatch, module, class_name, REQUEST_HEADERS)
        config = stub_config(provider, stub.base_url)
        case = LLMCase(prepared, config, get_strategy("naive"), subset, rows=10, replicate=0)
        answers = collect_completions(case, "record", folder)

    assert len(answers) == 2
    return provider, stub.received, case.key.cassette_path(folder)


def test_recording_sent_credential_headers(recording) -> None:
    provider, received, _ = recording
    assert len(received) == 2
    for request in received:
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["authorization"] == f"Bearer {API_KEYS[provider]}"
        for name, value in REQUEST_HEADERS.items():
            assert value in headers[name.lower()], name


def test_recorded_cassette_holds_no_header_name(recording) -> None:
    _, _, path = recording
    text = path.read_text(encoding="utf-8").lower()
    for name in STORED_NAMES:
        assert name not in text, name


def test_recorded_cassette_holds_no_value(recording) -> None:
    provider, _, path = recording
    text = path.read_text(encoding="utf-8")
    for value in (API_KEYS[provider], *REQUEST_HEADERS.values(), *RESPONSE_HEADERS.values()):
        tokens = re.findall(r"[A-Za-z0-9_.-]{16,}", value)
        assert tokens, value
        for token in tokens:
            assert token not in text, mask(token)


def test_recorded_cassette_passes_scan(recording) -> None:
    _, _, path = recording
    assert len(yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]) == 2
    hits = scan_file(path)
    assert hits == [], report(hits)


def test_scanner_flags_headers_as_sent(recording, tmp_path: Path) -> None:
    _, received, _ = recording
    path = tmp_path / "unfiltered.yaml"
    path.write_text(yaml.safe_dump({"request": received[0].headers, "response": RESPONSE_HEADERS}), encoding="utf-8")

    kinds = {hit.kind for hit in scan_file(path)}

    expected = {"secret-header", "bearer-token", "jwt", "google-api-key", "aws-access-key", "organization-id"}
    expected |= {"project-id", "cookie-value", "high-entropy-hex", "anthropic-key"}
    assert expected <= kinds


def test_client_digest_header_filtered(
    prepared: PreparedDataset, subset: FeatureSubset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request that already carries the digest header and no registered real text is taken for
    # one loaded from a cassette. Its credential headers must still be dropped.
    headers = {**REQUEST_HEADERS, DIGEST_HEADER: f"sha256:{fake('', HEX, 64)}"}
    add_default_headers(monkeypatch, openai, "OpenAI", headers)
    path = tmp_path / "client-digest.yaml"

    with OpenAIStub(response_headers=RESPONSE_HEADERS) as stub:
        config = stub_config("openai", stub.base_url)
        case = LLMCase(prepared, config, get_strategy("naive"), subset, rows=5, replicate=0)
        text = "user text without real values"
        prompt = dataclasses.replace(build_prompts(case)[0], user=text, redacted_user=text)
        redactor = RequestRedactor()
        redactor.register(prompt.system, prompt.system)
        redactor.register(prompt.user, prompt.user)
        with build_vcr("record", redactor).use_cassette(str(path)):
            OpenAICompatibleProvider(config, API_KEYS["openai"], max_retries=0).complete(prompt)

    assert len(stub.received) == 1
    stored = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"][0]
    assert set(stored["request"]["headers"]) <= {"content-type", DIGEST_HEADER}
    assert {name.lower() for name in stored["response"]["headers"]} <= {"content-type"}
    hits = scan_file(path)
    assert hits == [], report(hits)
