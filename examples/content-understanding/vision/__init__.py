"""Toy vision nodes for the content-understanding example.

They stand in for real models with small, deterministic numpy computations, so that the
pipeline runs anywhere (no weights, no network): the graph's shape is the point.
"""
