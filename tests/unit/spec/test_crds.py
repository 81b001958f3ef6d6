"""The generated CRD: no drift from ``crds/``, a structural schema, and what the API server needs.

The structural checker below implements the rules of "Specifying a structural schema" in the
Kubernetes documentation (apiextensions.k8s.io/v1), because no API server runs here; negative
tests prove that it catches each violation. kubernetes-validate checks the CRD object itself,
and jsonschema checks every example manifest against the CRD's openAPIV3Schema, so that what
braid accepts, the API server accepts too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from braid.spec import render_crd, validate_graph
from braid.spec._crds import crd_object, openapi_schema

ROOT = Path(__file__).parents[3]
CRD_FILE = ROOT / "crds" / "deploymentgraphs.braid.dev.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("**/*.yaml"))
KUBERNETES_VERSION = "1.33"
JUNCTORS = ("allOf", "anyOf", "oneOf")
FORBIDDEN_IN_JUNCTORS = ("type", "description", "default", "nullable", "additionalProperties")
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
SCALARS = {"string", "integer", "number", "boolean"}

Schema = dict[str, Any]


# --- the structural checker ----------------------------------------------------------------


def structural_violations(root: Schema) -> list[str]:
    """Every way in which ``root`` (an openAPIV3Schema) is not a structural schema."""
    found = list(_walk(root, "openAPIV3Schema", in_junctor=False))
    if root.get("type") != "object":
        found.append("openAPIV3Schema: the root must have type object")
    metadata = root.get("properties", {}).get("metadata")
    if metadata is not None:
        found += _metadata_violations(metadata)
    return found


def _walk(node: Schema, path: str, *, in_junctor: bool) -> Iterator[str]:
    if "$ref" in node:
        yield f"{path}: $ref is not allowed"
    int_or_string = bool(node.get("x-kubernetes-int-or-string"))
    if in_junctor:
        for key in FORBIDDEN_IN_JUNCTORS:
            if key in node:
                yield f"{path}: {key} inside a logical junctor"
    elif not (
        node.get("type") or int_or_string or node.get("x-kubernetes-preserve-unknown-fields")
    ):
        yield f"{path}: no type"
    if "properties" in node and "additionalProperties" in node:
        yield f"{path}: properties and additionalProperties together"
    if node.get("uniqueItems") is True:
        yield f"{path}: uniqueItems cannot be true"
    yield from _list_type_violations(node, path)
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.properties.{name}", in_junctor=in_junctor)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(
            node["additionalProperties"], f"{path}.additionalProperties", in_junctor=in_junctor
        )
    if "items" in node:
        yield from _walk(node["items"], f"{path}.items", in_junctor=in_junctor)
    for junctor in JUNCTORS:
        options = node.get(junctor, [])
        if int_or_string and junctor == "anyOf" and options == INT_OR_STRING:
            continue  # the one pattern allowed with x-kubernetes-int-or-string
        for index, option in enumerate(options):
            where = f"{path}.{junctor}[{index}]"
            yield from _walk(option, where, in_junctor=True)
            yield from _specified_outside(node, option, where)
    if "not" in node:
        yield from _walk(node["not"], f"{path}.not", in_junctor=True)
        yield from _specified_outside(node, node["not"], f"{path}.not")


def _specified_outside(node: Schema, option: Schema, where: str) -> Iterator[str]:
    for name in option.get("properties", {}):
        if name not in node.get("properties", {}):
            yield f"{where}: field {name} is not specified outside the junctor"
    if "items" in option and "items" not in node:
        yield f"{where}: items are not specified outside the junctor"


def _list_type_violations(node: Schema, path: str) -> Iterator[str]:
    list_type = node.get("x-kubernetes-list-type")
    keys = node.get("x-kubernetes-list-map-keys")
    if list_type is None:
        if keys is not None:
            yield f"{path}: x-kubernetes-list-map-keys without x-kubernetes-list-type map"
        return
    if node.get("type") != "array":
        yield f"{path}: x-kubernetes-list-type on a non-array"
    items = node.get("items", {})
    if list_type == "set" and items.get("type") not in SCALARS:
        yield f"{path}: a set list needs scalar items"
    if list_type != "map":
        if list_type not in {"atomic", "set"}:
            yield f"{path}: unknown x-kubernetes-list-type {list_type}"
        return
    if items.get("type") != "object":
        yield f"{path}: a map list needs object items"
    if not keys:
        yield f"{path}: a map list needs x-kubernetes-list-map-keys"
    for key in keys or []:
        field = items.get("properties", {}).get(key)
        if field is None:
            yield f"{path}: list-map key {key} is not a property of the items"
            continue
        if key not in items.get("required", []) and "default" not in field:
            yield f"{path}: list-map key {key} is neither required nor defaulted"
        if field.get("type") not in SCALARS:
            yield f"{path}: list-map key {key} is not a scalar"


def _metadata_violations(metadata: Schema) -> list[str]:
    found = []
    if set(metadata) - {"type", "properties"} or metadata.get("type") != "object":
        found.append("metadata: only type object and restrictions of name/generateName")
    if set(metadata.get("properties", {})) - {"name", "generateName"}:
        found.append("metadata: only metadata.name and metadata.generateName may be restricted")
    return found


def schema_nodes(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every property of the schema, with its dotted path."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from schema_nodes(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from schema_nodes(node[key], f"{path}[]")


# --- the generated CRD ----------------------------------------------------------------------


def test_the_crd_in_crds_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == render_crd(), (
        "crds/ and braid.spec drifted apart; "
        "run `braid crd -o crds/deploymentgraphs.braid.dev.yaml` and commit the result"
    )


def test_the_crd_schema_is_structural() -> None:
    assert structural_violations(openapi_schema()) == []


def test_the_crd_passes_kubernetes_validate_strict() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_the_crd_has_names_printer_columns_and_the_status_subresource() -> None:
    crd = crd_object()
    names, (version,) = crd["spec"]["names"], crd["spec"]["versions"]
    assert crd["metadata"]["name"] == "deploymentgraphs.braid.dev"
    assert (names["kind"], names["plural"]) == ("DeploymentGraph", "deploymentgraphs")
    assert "dg" in names["shortNames"]
    assert "braid" in names["categories"]
    assert version["subresources"] == {"status": {}}
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    assert {"Ready", "Nodes", "Age"} <= set(columns)
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Nodes"]["jsonPath"] == ".status.readyNodes"
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }


def test_every_property_has_a_description() -> None:
    schema = openapi_schema()
    missing = [
        path
        for path, node in schema_nodes(schema["properties"]["spec"], "spec")
        if not node.get("description")
    ]
    missing += [
        path
        for path, node in schema_nodes(schema["properties"]["status"], "status")
        if not node.get("description")
    ]
    assert missing == []


def test_lists_of_named_objects_merge_by_their_name() -> None:
    spec = openapi_schema()["properties"]["spec"]["properties"]
    flow = spec["flow"]["properties"]
    dispatch = flow["steps"]["items"]["properties"]["dispatch"]["properties"]
    node = spec["nodes"]["items"]["properties"]
    for lists, key in [
        (spec["nodes"], "name"),
        (flow["steps"], "name"),
        (node["env"], "name"),
        (node["http"]["properties"]["methods"], "name"),
        (dispatch["cases"], "when"),
    ]:
        assert lists["x-kubernetes-list-type"] == "map"
        assert lists["x-kubernetes-list-map-keys"] == [key]


def test_the_schema_has_no_ref_anywhere() -> None:
    assert "$ref" not in CRD_FILE.read_text()


# --- the checker catches violations ---------------------------------------------------------


def _node(schema: Schema) -> Schema:
    return schema["properties"]["spec"]["properties"]["nodes"]["items"]


def _set(key: str, value: object) -> Callable[[Schema], None]:
    return lambda schema: _node(schema)["properties"]["replicas"].__setitem__(key, value)


BREAKAGES: dict[str, tuple[Callable[[Schema], None], str]] = {
    "no-type": (lambda s: _node(s)["properties"]["image"].pop("type"), "image: no type"),
    "ref": (lambda s: _node(s).__setitem__("$ref", "#/x"), "$ref is not allowed"),
    "type-in-anyof": (
        lambda s: _node(s).update(anyOf=[{"type": "object", "required": ["class"]}]),
        "anyOf[0]: type inside a logical junctor",
    ),
    "description-in-oneof": (
        lambda s: _node(s).update(oneOf=[{"description": "x"}]),
        "oneOf[0]: description inside a logical junctor",
    ),
    "default-in-allof": (
        lambda s: _node(s).update(allOf=[{"default": {}}]),
        "allOf[0]: default inside a logical junctor",
    ),
    "nullable-in-not": (
        lambda s: _node(s).update({"not": {"nullable": True}}),
        "not: nullable inside a logical junctor",
    ),
    "additional-properties-in-anyof": (
        lambda s: _node(s).update(anyOf=[{"additionalProperties": {"type": "string"}}]),
        "anyOf[0]: additionalProperties inside a logical junctor",
    ),
    "field-only-in-junctor": (
        lambda s: _node(s).update(anyOf=[{"properties": {"ghost": {}}}]),
        "anyOf[0]: field ghost is not specified outside the junctor",
    ),
    "properties-and-additional-properties": (
        lambda s: _node(s).update(additionalProperties={"type": "string"}),
        "properties and additionalProperties together",
    ),
    "list-map-key-not-required": (
        lambda s: _node(s)["required"].remove("name"),
        "list-map key name is neither required nor defaulted",
    ),
    "list-map-key-not-scalar": (
        lambda s: _node(s)["properties"]["name"].update(type="object"),
        "list-map key name is not a scalar",
    ),
    "list-map-key-missing": (
        lambda s: s["properties"]["spec"]["properties"]["nodes"].update(
            {"x-kubernetes-list-map-keys": ["nom"]}
        ),
        "list-map key nom is not a property of the items",
    ),
    "metadata-restricted": (
        lambda s: s["properties"]["metadata"].update(properties={"labels": {"type": "object"}}),
        "only metadata.name and metadata.generateName may be restricted",
    ),
    "root-not-object": (lambda s: s.update(type="array"), "the root must have type object"),
    "unique-items": (_set("uniqueItems", True), "uniqueItems cannot be true"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_checker_catches_a_violation(breakage: str) -> None:
    schema = copy.deepcopy(openapi_schema())
    breaking, expected = BREAKAGES[breakage]
    breaking(schema)
    found = structural_violations(schema)
    assert any(expected in violation for violation in found), found


def test_the_checker_allows_the_int_or_string_pattern_only() -> None:
    schema = copy.deepcopy(openapi_schema())
    cpu = _node(schema)["properties"]["resources"]["properties"]["cpu"]
    assert cpu["anyOf"] == INT_OR_STRING and cpu["x-kubernetes-int-or-string"] is True
    cpu["anyOf"] = [{"type": "integer"}, {"type": "boolean"}]
    assert any("type inside a logical junctor" in v for v in structural_violations(schema))


# --- manifests against the CRD schema -------------------------------------------------------


def as_json_schema(node: Schema) -> Schema:
    """The openAPIV3Schema as Draft 4 JSON Schema, with the API server's handling of fields.

    OpenAPI v3.0 writes ``exclusiveMinimum`` as a boolean, as Draft 4 does. The API server,
    with kubectl's default strict field validation, refuses unknown fields unless a node
    preserves them, so objects with properties get ``additionalProperties: false``.
    """
    out = {key: value for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        out["anyOf"] = INT_OR_STRING
    if "properties" in node:
        out["properties"] = {
            name: as_json_schema(child) for name, child in node["properties"].items()
        }
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = as_json_schema(node[key])
    return out


def crd_validator() -> jsonschema.Draft4Validator:
    schema = as_json_schema(openapi_schema())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLES])
def test_every_example_passes_the_crd_schema(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    validate_graph(document)
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in crd_validator().iter_errors(document)
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"replicas": "two"}, "'two' is not of type 'integer'"),
        ({"replcas": 2}, "Additional properties are not allowed ('replcas' was unexpected)"),
        ({"resources": {"cpu": 1.5}}, "is not valid under any of the given schemas"),
        ({"autoscaling": {"maxReplicas": 2, "targetOngoingRequests": 0}}, "less than or equal"),
    ],
)
def test_the_crd_schema_refuses_what_braid_refuses(change: Schema, expected: str) -> None:
    document = yaml.safe_load((ROOT / "examples" / "hello" / "graph.yaml").read_text())
    document["spec"]["nodes"][0].update(change)
    messages = [error.message for error in crd_validator().iter_errors(document)]
    assert any(expected in message for message in messages), messages
