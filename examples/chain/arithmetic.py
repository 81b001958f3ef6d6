"""Two class nodes for a chain: the adder's constructor takes ``init``; the multiplier is
configured live through ``reconfigure(user_config)``."""


class Adder:
    def __init__(self, increment: int = 1) -> None:
        self.increment = increment

    def add(self, value: int) -> int:
        return value + self.increment


class Multiplier:
    def __init__(self) -> None:
        self.factor = 1

    def reconfigure(self, user_config: dict[str, int]) -> None:
        self.factor = user_config["factor"]

    def multiply(self, value: int) -> int:
        return value * self.factor
