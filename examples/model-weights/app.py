"""The model-weights graph declared in Python, pod settings included (graph.yaml's equivalent).

Options are the manifest's node fields in snake_case, with the same values as the YAML.
"""

from classifier import Classifier

from braid.authoring import Input, bind, graph

classifier = bind(Classifier, weights_dir="/models/sentiment").options(
    replicas=2,
    resources={"cpu": "1", "memory": "2Gi"},
    volumes=[
        {
            "name": "weights",
            "persistentVolumeClaim": {"claimName": "sentiment-weights", "readOnly": True},
        },
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "hub-token", "secret": {"secretName": "hub-token", "defaultMode": 288}},
    ],
    volume_mounts=[
        {"name": "weights", "mountPath": "/models", "readOnly": True},
        {"name": "shm", "mountPath": "/dev/shm"},
        {"name": "hub-token", "mountPath": "/var/run/secrets/hub", "readOnly": True},
    ],
    env=[
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub-token", "key": "token"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
    ],
    env_from=[{"configMapRef": {"name": "classifier-settings", "optional": True}}],
    service_account_name="classifier",
    image_pull_secrets=[{"name": "registry-credentials"}],
    priority_class_name="inference",
    affinity={
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [
                            {
                                "key": "node.kubernetes.io/instance-type",
                                "operator": "In",
                                "values": ["m7i.xlarge"],
                            }
                        ]
                    },
                }
            ]
        }
    },
    topology_spread_constraints=[
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {
                "matchLabels": {"braid.dev/graph": "weights", "braid.dev/node": "classifier"}
            },
        }
    ],
    startup_seconds=900,  # loading the weights may take up to 15 minutes
    termination_grace_period_seconds=60,
    pod_annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
    pod_labels={"team": "search"},
    rollout={"maxUnavailable": 1, "maxSurge": 0},
)

text = Input("text")
verdict = classifier.classify.bind(text)

app = graph(verdict, name="weights", route_prefix="/weights")
