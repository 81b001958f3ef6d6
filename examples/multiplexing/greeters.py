"""One node serving a greeting model per language, loaded on demand (model multiplexing).

graph.yaml declares ``multiplexing`` on the node: braid calls ``load_model`` once per language
per replica, keeps at most ``maxModelsPerReplica`` of them, and unloads the least recently used
(calling its ``cleanup()``). A request names its model with the ``braid-model-id`` header;
``greet`` reads the loaded model with ``braid.runtime.get_model()``.
"""

from __future__ import annotations

import logging
import time

from braid.runtime import get_model, get_model_id

logger = logging.getLogger(__name__)

#: The "weights" of each model: a real node would read them from a model store.
GREETINGS = {"en": "Hello", "es": "Hola", "fr": "Bonjour", "de": "Hallo", "it": "Ciao"}


class Greeting:
    """A loaded model: one language's greeting."""

    def __init__(self, language: str, word: str) -> None:
        self.language, self.word = language, word

    def cleanup(self) -> None:
        """Called by braid when the model is unloaded (free GPU memory here)."""
        logger.info("unloaded the %s model", self.language)


class Greeter:
    def load_model(self, model_id: str) -> Greeting:
        """Load one model: called once per model id per replica, in one of braid's threads."""
        if model_id not in GREETINGS:
            raise KeyError(f"no model {model_id!r}; known: {', '.join(sorted(GREETINGS))}")
        time.sleep(0.1)  # reading weights takes a while
        return Greeting(model_id, GREETINGS[model_id])

    def greet(self, name: str) -> str:
        model: Greeting = get_model()  # the model of this request's braid-model-id
        logger.debug("greeting %s with the %s model", name, get_model_id())
        return f"{model.word} {name}"
