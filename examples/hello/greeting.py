"""A function node: braid calls it with the step's arguments."""


def greet(name: str) -> str:
    return f"Hello, {name}!"
