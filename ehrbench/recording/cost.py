"""The price of recording: cost from token counts, worst-case estimates, and the cap of ``--max-cost``.

Prices come from the model entry (``input_price_per_million`` and ``output_price_per_million``,
USD per million tokens). Before a request is sent its worst case is estimated: input tokens
from the prompt length (:data:`CHARACTERS_PER_TOKEN`), output tokens from
``max_output_tokens`` or :data:`DEFAULT_OUTPUT_TOKENS`. After it returns, the token counts that
the endpoint reports are charged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from ehrbench.prompts import Prompt
from ehrbench.providers import Completion, ModelConfig, ModelConfigError

logger = logging.getLogger(__name__)

#: Characters per input token assumed by the estimate. OpenAI's rule of thumb for English text
#: is about 4; a lower ratio makes the estimate err high, because digits split into more tokens.
CHARACTERS_PER_TOKEN = 3.0

#: Output tokens assumed for one request of a model whose entry sets no ``max_output_tokens``.
# NOTE: without max_output_tokens the endpoint may write more than this, so the spending can
# end above --max-cost. Set max_output_tokens in the model entry for a hard cap.
DEFAULT_OUTPUT_TOKENS = 4096


class BudgetExhausted(RuntimeError):
    """The next request could take the spending of this run over ``--max-cost``; it was not sent."""

    def __init__(self, message: str, missing_requests: int) -> None:
        super().__init__(message)
        #: Requests of the stopped case that are still not recorded, the refused one included.
        self.missing_requests = missing_requests


def check_prices(config: ModelConfig) -> None:
    """Raise :class:`ModelConfigError` unless ``config`` has both token prices."""
    missing = [
        key for key in ("input_price_per_million", "output_price_per_million") if getattr(config, key) is None
    ]
    if missing:
        raise ModelConfigError(
            f"model {config.name!r} has no {' and no '.join(missing)}, so --max-cost cannot be enforced; "
            "add the prices in USD per million tokens to its entry in the model list (0 for a local model)"
        )


def request_cost(config: ModelConfig, input_tokens: int, output_tokens: int) -> float | None:
    """Return the cost in USD of ``input_tokens`` and ``output_tokens``, or None without prices."""
    if config.input_price_per_million is None or config.output_price_per_million is None:
        return None
    return (input_tokens * config.input_price_per_million + output_tokens * config.output_price_per_million) / 1e6


def estimate_input_tokens(prompt: Prompt) -> int:
    """Return an estimate, meant to err high, of the input tokens of ``prompt``."""
    return math.ceil((len(prompt.system) + len(prompt.user)) / CHARACTERS_PER_TOKEN)


def max_output_tokens(config: ModelConfig) -> int:
    """Return the output tokens assumed for one request: ``max_output_tokens`` or the default."""
    return config.max_output_tokens if config.max_output_tokens is not None else DEFAULT_OUTPUT_TOKENS


def worst_case_cost(config: ModelConfig, prompt: Prompt) -> float | None:
    """Return the estimated highest cost in USD of sending ``prompt``, or None without prices."""
    return request_cost(config, estimate_input_tokens(prompt), max_output_tokens(config))


def completion_cost(config: ModelConfig, prompt: Prompt, completion: Completion) -> float | None:
    """Return the cost in USD of one completed request, or None without prices.

    A token count that the endpoint did not report is replaced by its estimate.
    """
    input_tokens = completion.input_tokens
    output_tokens = completion.output_tokens
    if input_tokens is None or output_tokens is None:
        logger.warning("model %r reported no token usage; charging the estimated worst case", config.name)
    return request_cost(
        config,
        estimate_input_tokens(prompt) if input_tokens is None else input_tokens,
        max_output_tokens(config) if output_tokens is None else output_tokens,
    )


class CostBudget:
    """The USD spent by one recording run, and its cap (None for no cap).

    Only the main thread of the run calls it: it decides before each group of concurrent
    requests and is charged after the group returns.
    """

    def __init__(self, max_cost: float | None = None) -> None:
        if max_cost is not None and not (math.isfinite(max_cost) and max_cost >= 0):
            raise ValueError(f"max_cost must be a finite number of USD >= 0 or None, got {max_cost!r}")
        self.max_cost = max_cost
        self.spent = 0.0
        #: Completed requests whose model has no prices, so they are not in ``spent``.
        self.unpriced_requests = 0

    def affordable(self, config: ModelConfig, prompts: Sequence[Prompt]) -> int:
        """Return how many of ``prompts``, taken in order, fit in the cap at their worst case."""
        if self.max_cost is None:
            return len(prompts)
        check_prices(config)
        total = self.spent
        for count, prompt in enumerate(prompts):
            total += worst_case_cost(config, prompt)
            if total > self.max_cost:
                return count
        return len(prompts)

    def charge(self, config: ModelConfig, prompt: Prompt, completion: Completion) -> float | None:
        """Add the cost of one completed request to ``spent`` and return it (None without prices)."""
        cost = completion_cost(config, prompt, completion)
        if cost is None:
            self.unpriced_requests += 1
        else:
            self.spent += cost
        return cost

    @property
    def remaining(self) -> float | None:
        """Return the USD left under the cap, or None without a cap."""
        return None if self.max_cost is None else max(0.0, self.max_cost - self.spent)
