"""Tests of the model list, API key resolution and the chat request arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_prompts import small_prompt

from ehrbench.prompts.response_schema import answer_schema
from ehrbench.providers import (
    ModelConfig,
    ModelConfigError,
    OpenAICompatibleProvider,
    ProviderError,
    check_egress,
    is_loopback,
    load_models,
    resolve_api_key,
    select_models,
)
from ehrbench.providers.openai_compatible import LOCAL_API_KEY, REPLAY_API_KEY

KEY_VARIABLE = "EHRBENCH_TEST_PROVIDER_KEY"

VALID_LIST = """
[models.local-small]
model = "smollm2-135m-instruct"
base_url = "http://127.0.0.1:8765/v1"
api_key_env = ""
structured_output = "json_object_schema"
row_layout = "array"
rows_per_request = 10
temperature = 0.2

[models.remote]
base_url = "https://api.example.org/v1"
"""


def write_list(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


# load_models and select_models.


def test_load_models_reads_tables(tmp_path: Path) -> None:
    models = load_models(write_list(tmp_path, VALID_LIST))
    assert list(models) == ["local-small", "remote"]

    local = models["local-small"]
    assert local.model == "smollm2-135m-instruct"
    assert local.rows_per_request == 10
    assert local.temperature == 0.2
    assert local.output_format == "json-arrays"


def test_load_models_defaults(tmp_path: Path) -> None:
    remote = load_models(write_list(tmp_path, VALID_LIST))["remote"]
    assert remote.model == "remote"
    assert remote.provider == "openai-compatible"
    assert remote.api_key_env == "OPENAI_API_KEY"
    assert remote.structured_output == "json_schema"
    assert remote.output_format == "json"


def test_output_format_for_plain_text() -> None:
    assert ModelConfig("plain", structured_output="none").output_format == "csv"
    assert ModelConfig("plain", structured_output="none", row_layout="array").output_format == "csv"


def test_load_models_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ModelConfigError, match="not found") as error:
        load_models(path)
    assert str(path) in str(error.value)
    assert "--models-file" in str(error.value)


def test_load_models_invalid_toml(tmp_path: Path) -> None:
    path = write_list(tmp_path, "[models.a\nmodel = 1\n")
    with pytest.raises(ModelConfigError, match="is not valid TOML") as error:
        load_models(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text", ["", "[other]\nx = 1\n", "models = 3\n", "[models]\n"])
def test_load_models_without_tables(tmp_path: Path, text: str) -> None:
    path = write_list(tmp_path, text)
    with pytest.raises(ModelConfigError, match=r"has no \[models.NAME\] tables") as error:
        load_models(path)
    assert str(path) in str(error.value)


def test_load_models_unknown_key(tmp_path: Path) -> None:
    path = write_list(tmp_path, '[models.a]\nmodel = "m"\ntemprature = 0.1\n')
    with pytest.raises(ModelConfigError, match="unknown keys") as error:
        load_models(path)
    message = str(error.value)
    assert str(path) in message
    assert "'a'" in message
    assert "temprature" in message
    assert "temperature" in message  # the allowed keys are listed


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("provider", "anthropic-native", "provider 'anthropic-native' is unknown"),
        ("structured_output", "xml", "structured_output 'xml' is invalid"),
        ("row_layout", "columns", "row_layout 'columns' is invalid"),
    ],
)
def test_load_models_invalid_value(tmp_path: Path, key: str, value: str, expected: str) -> None:
    path = write_list(tmp_path, f'[models.bad-model]\n{key} = "{value}"\n')
    with pytest.raises(ModelConfigError, match=expected) as error:
        load_models(path)
    assert "'bad-model'" in str(error.value)


def test_load_models_zero_rows_per_request(tmp_path: Path) -> None:
    path = write_list(tmp_path, "[models.bad-model]\nrows_per_request = 0\n")
    with pytest.raises(ModelConfigError, match="rows_per_request must be at least 1, got 0"):
        load_models(path)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('[models.bad-model]\nrows_per_request = "ten"\n', id="text-rows_per_request"),
        pytest.param('[models.bad-model]\ntemperature = "hot"\n', id="text-temperature"),
        pytest.param("[models]\nbad-model = 3\n", id="entry-not-a-table"),
    ],
)
def test_load_models_wrong_value_type(tmp_path: Path, text: str) -> None:
    with pytest.raises(ModelConfigError, match="bad-model"):
        load_models(write_list(tmp_path, text))


def test_select_models_all(tmp_path: Path) -> None:
    models = load_models(write_list(tmp_path, VALID_LIST))
    assert [model.name for model in select_models(models, None)] == ["local-small", "remote"]
    assert [model.name for model in select_models(models, [])] == ["local-small", "remote"]


def test_select_models_named(tmp_path: Path) -> None:
    models = load_models(write_list(tmp_path, VALID_LIST))
    assert [model.name for model in select_models(models, ["remote"])] == ["remote"]


def test_select_models_unknown_lists_configured(tmp_path: Path) -> None:
    models = load_models(write_list(tmp_path, VALID_LIST))
    with pytest.raises(ModelConfigError, match=r"unknown model\(s\) \['gpt-9'\]") as error:
        select_models(models, ["remote", "gpt-9"])
    assert "['local-small', 'remote']" in str(error.value)


# API keys and loopback addresses.


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765/v1", True),
        ("http://127.5.5.5/v1", True),
        ("http://[::1]:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://LOCALHOST/v1", True),
        ("http://10.0.0.1:8000/v1", False),
        ("https://example.org/v1", False),
        ("http://127.0.0.1.example.org/v1", False),
        ("http://[::2]/v1", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(url: str | None, expected: bool) -> None:
    assert is_loopback(url) is expected


def test_replay_key_is_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "sk-real-key")
    config = ModelConfig("remote", base_url="https://example.org/v1", api_key_env=KEY_VARIABLE)
    assert resolve_api_key(config, replay=True) == REPLAY_API_KEY


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "sk-real-key")
    for base_url in ("https://example.org/v1", "http://127.0.0.1:8765/v1"):
        config = ModelConfig("m", base_url=base_url, api_key_env=KEY_VARIABLE)
        assert resolve_api_key(config, replay=False) == "sk-real-key"


def test_loopback_without_key_gets_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    for api_key_env in (KEY_VARIABLE, ""):
        config = ModelConfig("local", base_url="http://127.0.0.1:8765/v1", api_key_env=api_key_env)
        assert resolve_api_key(config, replay=False) == LOCAL_API_KEY


def test_remote_without_key_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "")
    config = ModelConfig("remote", base_url="https://example.org/v1", api_key_env=KEY_VARIABLE)
    with pytest.raises(ProviderError, match=KEY_VARIABLE) as error:
        resolve_api_key(config, replay=False)
    assert "'remote'" in str(error.value)


def test_remote_without_key_variable_names_setting() -> None:
    config = ModelConfig("remote", base_url="https://example.org/v1", api_key_env="")
    with pytest.raises(ProviderError, match="api_key_env"):
        resolve_api_key(config, replay=False)


# Request arguments.


def provider_for(**settings) -> OpenAICompatibleProvider:
    config = ModelConfig("stub", model="stub-model", base_url="http://127.0.0.1:9/v1", **settings)
    return OpenAICompatibleProvider(config, api_key="unused")


def test_arguments_carry_messages_and_settings() -> None:
    prompt = small_prompt()
    arguments = provider_for(temperature=0.3).request_arguments(prompt)
    assert arguments["model"] == "stub-model"
    assert arguments["messages"] == [
        {"role": "system", "content": "system text"},
        {"role": "user", "content": "user text with real value 63.5"},
    ]
    assert arguments["temperature"] == 0.3
    assert arguments["seed"] == 1234
    assert "max_tokens" not in arguments


def test_arguments_set_max_tokens() -> None:
    arguments = provider_for(max_output_tokens=2048).request_arguments(small_prompt())
    assert arguments["max_tokens"] == 2048


def test_arguments_json_schema_form() -> None:
    prompt = small_prompt()
    arguments = provider_for(structured_output="json_schema").request_arguments(prompt)
    assert arguments["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "synthetic_rows", "schema": answer_schema(prompt.schema, 4), "strict": True},
    }


def test_json_schema_rejects_array_layout() -> None:
    with pytest.raises(ModelConfigError, match="row_layout 'array' cannot be used with structured_output 'json_schema'"):
        ModelConfig("stub", structured_output="json_schema", row_layout="array")


def test_arguments_json_object_schema_form() -> None:
    prompt = small_prompt("json-arrays")
    arguments = provider_for(structured_output="json_object_schema", row_layout="array").request_arguments(prompt)
    assert arguments["response_format"] == {
        "type": "json_object",
        "schema": answer_schema(prompt.schema, 4, arrays=True),
    }
    assert "prefixItems" in arguments["response_format"]["schema"]["properties"]["rows"]["items"]


def test_arguments_plain_text_form() -> None:
    arguments = provider_for(structured_output="none").request_arguments(small_prompt("csv"))
    assert "response_format" not in arguments


def test_arguments_hold_no_observed_range() -> None:
    arguments = provider_for().request_arguments(small_prompt())
    text = repr(arguments["response_format"])
    assert "101.8" not in text
    assert "18.0" not in text


class _Dataset:
    """The two attributes of a dataset that the egress check reads."""

    def __init__(self, name: str, access: str) -> None:
        self.name = name
        self.access = access


@pytest.mark.parametrize(
    "base_url",
    ["https://api.openai.com/v1", "http://10.0.0.5:8000/v1", None],
)
def test_egress_rejects_credentialed_remote(base_url: str | None) -> None:
    config = ModelConfig(name="remote", base_url=base_url)

    with pytest.raises(ProviderError) as raised:
        check_egress(_Dataset("eicu", "credentialed"), config)

    message = str(raised.value)
    assert "'eicu' is credentialed" in message
    assert "'remote'" in message
    assert "declared_compliant = true" in message


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8765/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"])
def test_egress_allows_credentialed_loopback(base_url: str) -> None:
    check_egress(_Dataset("eicu", "credentialed"), ModelConfig(name="local", base_url=base_url))


def test_egress_allows_declared_compliant_endpoint() -> None:
    config = ModelConfig(name="zdr", base_url="https://api.example.org/v1", declared_compliant=True)

    check_egress(_Dataset("eicu", "credentialed"), config)


def test_egress_allows_open_data_anywhere() -> None:
    check_egress(_Dataset("rhc", "open"), ModelConfig(name="remote", base_url="https://api.openai.com/v1"))


def test_declared_compliant_must_be_bool() -> None:
    with pytest.raises(ModelConfigError, match="declared_compliant"):
        ModelConfig(name="zdr", declared_compliant="yes")  # type: ignore[arg-type]
