"""Responders and a classifier that dispatches to one of them through handles."""

from __future__ import annotations

from typing import Any


class SpanishResponder:
    def say_hello(self, name: str) -> str:
        return f"Hola {name}"


class FrenchResponder:
    def say_hello(self, name: str) -> str:
        return f"Bonjour {name}"


class LanguageClassifier:
    def __init__(self, spanish: Any, french: Any) -> None:
        # braid passes handles for the nodes listed under `handles`.
        self.responders = {"spanish": spanish, "french": french}

    async def classify(self, request: dict[str, str]) -> str:
        language = request["language"]
        responder = self.responders.get(language)
        if responder is None:
            raise ValueError(f"unsupported language {language!r}; try spanish or french")
        return await responder.say_hello.remote(request["name"])
