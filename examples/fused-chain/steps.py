"""Three small steps that run co-located in one process (graph.yaml's group "pipeline")."""


class Parse:
    def run(self, text: str | float) -> float:
        return float(text)


class Scale:
    def __init__(self) -> None:
        self.factor = 1.0

    def reconfigure(self, user_config: dict[str, float]) -> None:
        self.factor = user_config["factor"]

    def run(self, value: float) -> float:
        if value < 0:
            raise ValueError(f"cannot scale a negative value ({value:g})")
        return value * self.factor


class Label:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def run(self, value: float) -> dict[str, float | bool]:
        return {"value": value, "big": value > self.threshold}
