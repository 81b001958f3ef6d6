"""The Helm chart: helm lint and helm template with the real helm, objects valid in strict mode.

The helm binary comes from scripts/install-tools (.tools/bin/helm); these tests skip only when
it has not run. The chart's CRD must be the generated one, byte for byte.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from braid.operator import OperatorSettings

CHART = Path("charts/braid")
KUBERNETES_VERSION = "1.33"


def helm() -> str:
    local = Path(".tools/bin/helm")
    found = str(local) if local.exists() else shutil.which("helm")
    if found is None:
        pytest.skip("helm is not installed: run scripts/install-tools")
    return found


def template(*values: str) -> list[dict[str, Any]]:
    sets = [arg for value in values for arg in ("--set", value)]
    result = subprocess.run(
        [helm(), "template", "demo", str(CHART), "--namespace", "braid-system", *sets],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in (CHART / "crds").glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            kind = crd["spec"]["names"]["kind"]
            schemas[kind] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schemas


def test_chart_crd_is_the_generated_crd() -> None:
    generated = Path("crds/deploymentgraphs.braid.dev.yaml").read_bytes()
    assert (CHART / "crds" / "deploymentgraphs.braid.dev.yaml").read_bytes() == generated, (
        "copy crds/deploymentgraphs.braid.dev.yaml to charts/braid/crds/"
    )


def test_chart_crds_are_valid() -> None:
    for path in (CHART / "crds").glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_helm_lint() -> None:
    result = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "values",
    [(), ("watchNamespaces={ml,vision}", "podDisruptionBudgets=true"), ("peering.enabled=false",)],
)
def test_template_renders_valid_objects(values: tuple[str, ...]) -> None:
    schemas = crd_schemas()
    objects = template(*values)
    assert {"Deployment", "ServiceAccount", "ClusterRole"} <= {obj["kind"] for obj in objects}
    for obj in objects:
        if obj["kind"] in schemas:
            jsonschema.validate(obj, schemas[obj["kind"]])
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_operator_runs_two_peered_non_root_replicas() -> None:
    objects = template()
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == OperatorSettings().run_as_user
    env = {var["name"]: var["value"] for var in pod["containers"][0]["env"]}
    assert env["BRAID_PEERING"] == "braid"
    peering = [obj for obj in objects if obj["kind"] == "ClusterKopfPeering"]
    assert [obj["metadata"]["name"] for obj in peering] == ["braid"]


def test_watched_namespaces_get_role_bindings_not_cluster_wide_rights() -> None:
    objects = template("watchNamespaces={ml,vision}")
    bindings = {
        (obj["kind"], obj["metadata"].get("namespace"), obj["roleRef"]["name"])
        for obj in objects
        if obj["kind"] in {"RoleBinding", "ClusterRoleBinding"}
    }
    assert bindings == {
        ("RoleBinding", "ml", "demo-braid"),
        ("RoleBinding", "vision", "demo-braid"),
        ("ClusterRoleBinding", None, "demo-braid-cluster"),
    }


def test_cluster_role_grants_no_wildcards() -> None:
    for obj in template():
        for rule in obj.get("rules", []):
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule


def rules_of(objects: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    role = next(o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == name)
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in rules
    )


def test_owner_references_permission_enforcement_is_satisfied() -> None:
    """blockOwnerDeletion on every child needs update on the owner's finalizers (OpenShift)."""
    rules = rules_of(template(), "demo-braid")
    assert grants(rules, "braid.dev", "deploymentgraphs/finalizers", "update")


def test_the_operator_watches_pods_but_never_writes_them() -> None:
    rules = rules_of(template(), "demo-braid")
    for verb in ("list", "watch"):
        assert grants(rules, "", "pods", verb)
    for verb in ("create", "patch", "update", "delete"):
        assert not grants(rules, "", "pods", verb)


def test_graph_pages_are_on_by_default_and_the_chart_turns_them_off() -> None:
    def page_env(*values: str) -> str:
        deployment = next(obj for obj in template(*values) if obj["kind"] == "Deployment")
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        return str({var["name"]: var["value"] for var in env}["BRAID_GRAPH_PAGE"])

    assert page_env() == "true"
    assert page_env("graphPage.enabled=false") == "false"


def test_the_charts_tracing_env_reaches_the_operator_as_json() -> None:
    def tracing_env(*values: str) -> Any:
        deployment = next(obj for obj in template(*values) if obj["kind"] == "Deployment")
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        return json.loads({var["name"]: var["value"] for var in env}["BRAID_TRACING_ENV"])

    assert tracing_env() == {}
    endpoint = "http://collector.observability:4317"
    assert tracing_env(f"tracing.env.OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}") == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint
    }
