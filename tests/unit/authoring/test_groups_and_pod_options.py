"""Co-location groups and every node field as an option, declared in Python."""

from __future__ import annotations

import pytest

from braid.authoring import BindError, BuildInvalid, Input, NodeOptions, bind, graph
from braid.authoring._nodes import MANIFEST_FIELDS
from braid.spec import Node


class Step:
    def run(self, value: int) -> int:
        return value


def test_every_manifest_node_field_but_the_bound_ones_is_an_option() -> None:
    bound = {"class_", "http", "inference", "init", "handles"}
    renamed = {"methods": "method_options"}  # http_node() takes "methods" for its paths
    fields = {renamed.get(name, name) for name in set(Node.model_fields) - bound}
    assert set(MANIFEST_FIELDS) == fields
    assert set(NodeOptions.__annotations__) == set(MANIFEST_FIELDS)  # typed for editors too


def test_groups_name_their_members_as_the_flow_names_them() -> None:
    first, second = bind(Step).options(replicas=2), bind(Step)
    value = second.run.bind(first.run.bind(Input("value")))
    built = graph(value, name="grouped", groups={"pair": [first, second]}).build()
    assert [(g.name, g.nodes) for g in built.spec.groups] == [("pair", ["first", "second"])]


def test_a_group_member_outside_the_flow_is_reported_at_its_line() -> None:
    used, unused = bind(Step), bind(Step)  # group-line
    value = used.run.bind(Input("value"))
    with pytest.raises(BuildInvalid) as failed:
        graph(value, name="grouped", groups={"pair": [used, unused]}).build()
    assert 'is in group "pair" but no step of the flow calls it' in str(failed.value)
    assert "test_groups_and_pod_options.py" in str(failed.value)


def test_a_group_takes_bound_nodes() -> None:
    value = bind(Step).run.bind(Input("value"))
    with pytest.raises(BindError, match=r'groups\["pair"\] takes a list of bound nodes'):
        graph(value, name="g", groups={"pair": ["first", "second"]})  # type: ignore[list-item]


def test_pod_settings_and_the_local_environment_are_options() -> None:
    step = bind(Step).options(
        volumes=[{"name": "shm", "emptyDir": {"medium": "Memory"}}],
        volume_mounts=[{"name": "shm", "mountPath": "/dev/shm"}],
        startup_seconds=600,
        local={"requirements": ["six==1.16.0"]},
        env={"LOG_LEVEL": "debug"},
    )
    built = graph(step.run.bind(Input("value")), name="pods").build()
    (node,) = built.spec.nodes
    assert node.volume_mounts[0].mount_path == "/dev/shm"
    assert node.startup_seconds == 600
    assert node.local is not None and node.local.requirements == ["six==1.16.0"]
    assert [(e.name, e.value) for e in node.env] == [("LOG_LEVEL", "debug")]
