"""Read the responses of a cassette that recording wrote, with their sealed bodies opened."""

from __future__ import annotations

import json

from vcr.serializers import yamlserializer

from ehrbench.recording import LLMCase, build_prompts
from ehrbench.recording.cassettes import SealingPersister
from ehrbench.recording.sealing import seal_key


def opened_bodies(case: LLMCase, root) -> list[dict]:
    """Return the JSON body of every stored response of ``case`` below ``root``, opened."""
    schema = build_prompts(case)[0].schema
    persister = SealingPersister(lambda: seal_key(case.prepared.real_rows(), schema))
    _, responses = persister.load_cassette(case.key.cassette_path(root), serializer=yamlserializer)
    return [json.loads(response["body"]["string"]) for response in responses]
