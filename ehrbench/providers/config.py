"""The model list: one TOML file, one table per model.

Example entry::

    [models.smollm2-135m-instruct]
    provider = "openai-compatible"
    model = "smollm2-135m-instruct"          # model id sent to the endpoint
    base_url = "http://127.0.0.1:8765/v1"
    api_key_env = ""                          # no key needed on a local server
    structured_output = "json_object_schema"  # llama.cpp / vLLM style; "json_schema" for OpenAI; "none" asks for CSV
    row_layout = "array"                      # records as arrays in column order; "object" is the default
    rows_per_request = 10
    temperature = 0.7
    max_retries = 3                           # retries after a 408, 429, 5xx, connection error or timeout
    retry_base_seconds = 0.5                  # the wait before retry n is drawn from [0, base * 2**(n-1)]
    max_concurrency = 1                       # requests of one case in flight at once while recording
    input_price_per_million = 0.0             # USD per million input tokens, for --max-cost
    output_price_per_million = 0.0            # USD per million output tokens
    batch_price_factor = 0.5                  # batch price / live price, for --batch with --max-cost
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

StructuredOutput = Literal["json_schema", "json_object_schema", "tool_schema", "none"]
RowLayout = Literal["object", "array"]

PROVIDERS = ("openai-compatible", "anthropic")
STRUCTURED_OUTPUT_FORMS = ("json_schema", "json_object_schema", "tool_schema", "none")
#: The structured output forms that each provider accepts.
PROVIDER_STRUCTURED_OUTPUT = {
    "openai-compatible": ("json_schema", "json_object_schema", "none"),
    "anthropic": ("tool_schema", "none"),
}
ROW_LAYOUTS = ("object", "array")


class ModelConfigError(ValueError):
    """The model list is missing, malformed, or does not name a requested model."""


@dataclass(frozen=True)
class ModelConfig:
    """One model entry.

    ``structured_output`` selects how rows are requested: ``json_schema`` is OpenAI's structured
    outputs form, ``json_object_schema`` is ``{"type": "json_object", "schema": ...}`` as the
    llama.cpp server and vLLM accept it, ``tool_schema`` (provider ``anthropic``) forces one
    tool whose input schema is the answer schema, and ``none`` requests CSV in plain text.
    ``row_layout`` ``array`` asks for each JSON record as an array in column order, which
    needs about a third of the tokens of ``object`` and so suits slow local models.
    ``max_output_tokens`` of None lets the endpoint stop at its own limit, except for provider
    ``anthropic``, whose Messages API requires a limit, so 8192 is sent.
    ``declared_compliant`` states that the endpoint keeps no data, trains on no input and has
    no human review, which allows credentialed data to be sent to it.
    ``max_retries`` (>= 0) and ``retry_base_seconds`` (>= 0) set the retry policy of recording,
    described in :mod:`ehrbench.recording.retry`. ``max_concurrency`` (>= 1) caps the requests of
    one case in flight at once. ``input_price_per_million`` and ``output_price_per_million`` are
    USD per million tokens (>= 0, None when unknown), which ``ehrbench record --max-cost`` needs.
    ``batch_price_factor`` (0 to 1) is the price of a request sent through the provider's batch
    API divided by its live price. ``ehrbench record --batch --max-cost`` multiplies the
    worst-case and the charged costs by it. The default 0.5 is the batch discount that OpenAI and
    Anthropic listed when this was written.
    """

    name: str
    provider: str = "openai-compatible"
    model: str = ""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    structured_output: StructuredOutput = "json_schema"
    row_layout: RowLayout = "object"
    rows_per_request: int = 20
    temperature: float = 0.7
    max_output_tokens: int | None = None
    timeout_seconds: float = 600.0
    declared_compliant: bool = False
    max_retries: int = 3
    retry_base_seconds: float = 0.5
    max_concurrency: int = 1
    input_price_per_million: float | None = None
    output_price_per_million: float | None = None
    batch_price_factor: float = 0.5

    def __post_init__(self) -> None:
        self._check_types()
        if self.provider not in PROVIDERS:
            raise ModelConfigError(f"model {self.name!r}: provider {self.provider!r} is unknown; use one of {PROVIDERS}")
        if self.structured_output not in STRUCTURED_OUTPUT_FORMS:
            raise ModelConfigError(
                f"model {self.name!r}: structured_output {self.structured_output!r} is invalid; "
                f"use one of {STRUCTURED_OUTPUT_FORMS}"
            )
        accepted = PROVIDER_STRUCTURED_OUTPUT[self.provider]
        if self.structured_output not in accepted:
            raise ModelConfigError(
                f"model {self.name!r}: structured_output {self.structured_output!r} is invalid for provider "
                f"{self.provider!r}; use one of {accepted}"
            )
        if self.provider == "anthropic" and self.api_key_env == "OPENAI_API_KEY":
            raise ModelConfigError(
                f"model {self.name!r}: api_key_env 'OPENAI_API_KEY' would send the OpenAI key to provider "
                "'anthropic'; set api_key_env = \"ANTHROPIC_API_KEY\" (or another variable) in its entry"
            )
        if self.row_layout not in ROW_LAYOUTS:
            raise ModelConfigError(
                f"model {self.name!r}: row_layout {self.row_layout!r} is invalid; use one of {ROW_LAYOUTS}"
            )
        if self.structured_output == "json_schema" and self.row_layout == "array":
            # OpenAI's strict structured outputs accept a subset of JSON Schema without
            # prefixItems, so an array record cannot give each position its own type.
            raise ModelConfigError(
                f"model {self.name!r}: row_layout 'array' cannot be used with structured_output 'json_schema', "
                "because strict structured outputs have no positional array types; use row_layout = 'object', "
                "or structured_output = 'json_object_schema' on a llama.cpp or vLLM server"
            )
        if self.rows_per_request < 1:
            raise ModelConfigError(f"model {self.name!r}: rows_per_request must be at least 1, got {self.rows_per_request}")
        if not self.model:
            object.__setattr__(self, "model", self.name)

    def _check_types(self) -> None:
        expected = {
            "provider": (str,),
            "model": (str,),
            "base_url": (str, type(None)),
            "api_key_env": (str,),
            "structured_output": (str,),
            "row_layout": (str,),
            "rows_per_request": (int,),
            "temperature": (int, float),
            "max_output_tokens": (int, type(None)),
            "timeout_seconds": (int, float),
            "declared_compliant": (bool,),
            "max_retries": (int,),
            "retry_base_seconds": (int, float),
            "max_concurrency": (int,),
            "input_price_per_million": (int, float, type(None)),
            "output_price_per_million": (int, float, type(None)),
            "batch_price_factor": (int, float),
        }
        for key, types in expected.items():
            value = getattr(self, key)
            wrong_bool = isinstance(value, bool) and bool not in types
            if wrong_bool or not isinstance(value, types):
                names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in types)
                raise ModelConfigError(f"model {self.name!r}: {key} is {value!r}; expected {names}")
        if self.timeout_seconds <= 0:
            raise ModelConfigError(f"model {self.name!r}: timeout_seconds must be positive, got {self.timeout_seconds}")
        self._check_recording_limits()

    def _check_recording_limits(self) -> None:
        minimums = {
            "max_retries": 0,
            "retry_base_seconds": 0,
            "max_concurrency": 1,
            "input_price_per_million": 0,
            "output_price_per_million": 0,
        }
        for key, minimum in minimums.items():
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value >= minimum):
                raise ModelConfigError(
                    f"model {self.name!r}: {key} must be a finite number of at least {minimum}, got {value!r}"
                )
        if not (math.isfinite(self.batch_price_factor) and 0 <= self.batch_price_factor <= 1):
            raise ModelConfigError(
                f"model {self.name!r}: batch_price_factor must be a number from 0 to 1 (the batch price divided "
                f"by the live price, 0.5 for half price), got {self.batch_price_factor!r}"
            )

    @property
    def output_format(self) -> str:
        """Return the prompt output format: ``csv``, ``json`` or ``json-arrays``."""
        if self.structured_output == "none":
            return "csv"
        return "json-arrays" if self.row_layout == "array" else "json"


def load_models(path: str | Path) -> dict[str, ModelConfig]:
    """Read every ``[models.NAME]`` table of the TOML file at ``path``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelConfigError(f"model list {path} not found; pass --models-file or create it") from None
    except tomllib.TOMLDecodeError as error:
        raise ModelConfigError(f"model list {path} is not valid TOML: {error}") from None

    tables = document.get("models")
    if not isinstance(tables, dict) or not tables:
        raise ModelConfigError(f"model list {path} has no [models.NAME] tables")
    allowed = {field.name for field in fields(ModelConfig)} - {"name"}
    models = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ModelConfigError(f"model {name!r} in {path}: expected a table [models.{name}], got {table!r}")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ModelConfigError(f"model {name!r} in {path}: unknown keys {unknown}; allowed keys are {sorted(allowed)}")
        try:
            models[name] = ModelConfig(name=name, **table)
        except ModelConfigError as error:
            raise ModelConfigError(f"{path}: {error}") from None
    return models


def select_models(models: dict[str, ModelConfig], names: list[str] | None) -> list[ModelConfig]:
    """Return the models called ``names`` (all when None), or raise naming the configured ones."""
    if not names:
        return list(models.values())
    unknown = [name for name in names if name not in models]
    if unknown:
        raise ModelConfigError(f"--models: unknown model(s) {unknown}; configured models are {sorted(models)}")
    return [models[name] for name in names]
