"""Generation of the ``DeploymentGraph`` CustomResourceDefinition from the pydantic models.

Pydantic's JSON Schema is turned into a Kubernetes *structural* schema: references are inlined,
``Optional`` unions collapse to their type, arbitrary JSON becomes
``x-kubernetes-preserve-unknown-fields``, and lists of objects keyed by a required ``name``
(``type``, ``when``) become ``x-kubernetes-list-type: map`` so that server-side apply merges them
by key. ``crds/`` holds the output of :func:`render_crd`; a test fails when they drift apart.
"""

from __future__ import annotations

from typing import Any

import yaml

from braid.spec._graphs import (
    API_GROUP,
    API_VERSION,
    CATEGORIES,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    DeploymentGraph,
    GraphSpec,
)
from braid.spec._statuses import GraphStatus

Schema = dict[str, Any]

# Keys of JSON Schema that a structural schema keeps as they are.
_KEPT = {
    "type",
    "description",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "format",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
}
# A list of objects with one of these as a required string field merges by that key.
_LIST_MAP_KEYS = ("name", "type", "when")

_PRINTER_COLUMNS = [
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether every node and the ingress are ready.",
    },
    {
        "name": "Nodes",
        "type": "string",
        "jsonPath": ".status.readyNodes",
        "description": "Ready nodes out of all nodes.",
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "description": "Reason of the Ready condition.",
    },
    {
        "name": "Endpoint",
        "type": "string",
        "jsonPath": ".status.endpoint.http",
        "priority": 1,
        "description": "HTTP endpoint of the graph.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def openapi_schema() -> Schema:
    """The structural ``openAPIV3Schema`` of the custom resource."""
    spec = GraphSpec.model_json_schema(by_alias=True, mode="validation")
    status = GraphStatus.model_json_schema(by_alias=True, mode="validation")
    return {
        "type": "object",
        "description": _clean_doc(DeploymentGraph.__doc__),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "braid.dev/v1alpha1"},
            "kind": {"type": "string", "description": KIND},
            "metadata": {"type": "object"},
            "spec": _structural(spec, spec.get("$defs", {})),
            "status": _structural(status, status.get("$defs", {})),
        },
    }


def crd_object() -> Schema:
    """The CustomResourceDefinition as a plain object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{API_GROUP}",
            "labels": {"app.kubernetes.io/part-of": "braid"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as YAML, exactly as it is stored in ``crds/``."""
    header = (
        "# Generated from braid.spec by `braid crd`; do not edit by hand.\n"
        "# `pytest tests/unit/spec/test_crds.py` fails when this file and the model drift apart.\n"
    )
    return header + yaml.safe_dump(crd_object(), sort_keys=False, width=100)


def _structural(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Turn one pydantic JSON Schema node into a structural schema node."""
    description = schema.get("description")
    schema = _resolve(schema, defs)
    if "const" in schema:
        schema = {**schema, "enum": [schema["const"]], "type": "string"}
    out: Schema = {key: value for key, value in schema.items() if key in _KEPT}
    if description:
        out["description"] = _clean_doc(description)
    elif "description" in out:
        out["description"] = _clean_doc(out["description"])
    if schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if "exclusiveMinimum" in schema:
        out["minimum"] = schema["exclusiveMinimum"]
        out["exclusiveMinimum"] = True
    if "properties" in schema:
        out["type"] = "object"
        out["properties"] = {
            name: _structural(prop, defs) for name, prop in schema["properties"].items()
        }
        if schema.get("required"):
            out["required"] = list(schema["required"])
    elif schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(schema["additionalProperties"], defs)
    if schema.get("type") == "array":
        items = _structural(schema.get("items", {}), defs)
        out["items"] = items
        key = next(
            (
                k
                for k in _LIST_MAP_KEYS
                if k in items.get("required", []) and items["properties"][k].get("type") == "string"
            ),
            None,
        )
        if key is not None:
            out["x-kubernetes-list-type"] = "map"
            out["x-kubernetes-list-map-keys"] = [key]
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _resolve(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline ``$ref`` and collapse ``anyOf: [X, null]`` to ``X``."""
    while True:
        if "$ref" in schema:
            schema = {**defs[schema["$ref"].rsplit("/", 1)[-1]], **_without(schema, "$ref")}
            continue
        options = schema.get("anyOf")
        if options and not schema.get("x-kubernetes-int-or-string"):
            kept = [option for option in options if option.get("type") != "null"]
            if len(kept) == 1:
                schema = {**kept[0], **_without(schema, "anyOf", "default")}
                continue
        return schema


def _without(schema: Schema, *keys: str) -> Schema:
    return {key: value for key, value in schema.items() if key not in keys and key != "title"}


def _clean_doc(text: str | None) -> str:
    """Collapse a docstring into one paragraph for ``kubectl explain``."""
    if not text:
        return ""
    return " ".join(text.split())
