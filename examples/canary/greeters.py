"""Two versions of one greeter: the stable one, and a canary that gets a tenth of the users."""


class StableGreeter:
    def greet(self, name: str) -> str:
        return f"Hello, {name}! (v1)"


class CanaryGreeter:
    def greet(self, name: str) -> str:
        return f"Hello there, {name}! (v2)"
