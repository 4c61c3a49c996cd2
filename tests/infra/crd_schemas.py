"""JSON schemas for the CRDs the snippets use, written from each project's documented API fields.

kubernetes-validate only bundles core Kubernetes schemas. These cover the fields the snippets use
(and reject unknown fields at the levels students most often misspell); they are not the full CRDs.
"""

from __future__ import annotations

from typing import Any

_QTY = {"type": ["string", "integer", "number"]}
_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": _QTY},
        "limits": {"type": "object", "additionalProperties": _QTY},
    },
}
_META = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}, "namespace": {"type": "string"}},
    "anyOf": [{"required": ["name"]}, {"required": ["generateName"]}],
}


def _crd(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _META,
            "spec": spec,
        },
    }


# autoscaling.k8s.io/v1 VerticalPodAutoscaler (kubernetes/autoscaler, vertical-pod-autoscaler/docs/api.md)
VPA = _crd(
    "autoscaling.k8s.io/v1",
    "VerticalPodAutoscaler",
    {
        "type": "object",
        "required": ["targetRef"],
        "additionalProperties": False,
        "properties": {
            "targetRef": {"type": "object", "required": ["apiVersion", "kind", "name"]},
            "updatePolicy": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "updateMode": {"enum": ["Off", "Initial", "Recreate", "InPlaceOrRecreate", "Auto"]},
                    "minReplicas": {"type": "integer"},
                },
            },
            "resourcePolicy": {
                "type": "object",
                "properties": {
                    "containerPolicies": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "containerName": {"type": "string"},
                                "mode": {"enum": ["Auto", "Off"]},
                                "minAllowed": {"type": "object", "additionalProperties": _QTY},
                                "maxAllowed": {"type": "object", "additionalProperties": _QTY},
                                "controlledResources": {"type": "array", "items": {"enum": ["cpu", "memory"]}},
                                "controlledValues": {"enum": ["RequestsAndLimits", "RequestsOnly"]},
                            },
                        },
                    }
                },
            },
            "recommenders": {"type": "array"},
        },
    },
)

# serving.kserve.io/v1beta1 InferenceService (KServe API reference: PredictorSpec, ModelSpec)
INFERENCE_SERVICE = _crd(
    "serving.kserve.io/v1beta1",
    "InferenceService",
    {
        "type": "object",
        "required": ["predictor"],
        "additionalProperties": False,
        "properties": {
            "predictor": {
                "type": "object",
                "properties": {
                    "minReplicas": {"type": "integer", "minimum": 0},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
                    "scaleTarget": {"type": "integer"},
                    "canaryTrafficPercent": {"type": "integer", "minimum": 0, "maximum": 100},
                    "serviceAccountName": {"type": "string"},
                    "model": {
                        "type": "object",
                        "required": ["modelFormat"],
                        "anyOf": [{"required": ["storageUri"]}, {"required": ["storage"]}],
                        "properties": {
                            "modelFormat": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                            },
                            "protocolVersion": {"enum": ["v1", "v2", "grpc-v2"]},
                            "runtime": {"type": "string"},
                            "storageUri": {"type": "string", "pattern": "^(s3|gs|pvc|https?|hf|oci)://"},
                            "resources": _RESOURCES,
                        },
                    },
                },
            },
            "transformer": {"type": "object"},
            "explainer": {"type": "object"},
        },
    },
)

_ARGO_TEMPLATE = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "steps": {
            "type": "array",
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "template"],
                    "properties": {
                        "name": {"type": "string"},
                        "template": {"type": "string"},
                        "when": {"type": "string"},
                        "arguments": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
            },
        },
        "container": {"type": "object", "required": ["image"], "properties": {"resources": _RESOURCES}},
        "retryStrategy": {
            "type": "object",
            "properties": {
                "limit": {"type": ["string", "integer"]},
                "retryPolicy": {"enum": ["Always", "OnFailure", "OnError", "OnTransientError"]},
            },
        },
        "inputs": {"type": "object"},
        "outputs": {"type": "object"},
    },
}

# argoproj.io/v1alpha1 Workflow (Argo Workflows field reference: WorkflowSpec, Template, WorkflowStep)
ARGO_WORKFLOW = _crd(
    "argoproj.io/v1alpha1",
    "Workflow",
    {
        "type": "object",
        "required": ["entrypoint", "templates"],
        "properties": {
            "entrypoint": {"type": "string"},
            "serviceAccountName": {"type": "string"},
            "activeDeadlineSeconds": {"type": "integer"},
            "podGC": {
                "type": "object",
                "properties": {
                    "strategy": {
                        "enum": ["OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"]
                    }
                },
            },
            "arguments": {"type": "object"},
            "templates": {"type": "array", "minItems": 1, "items": _ARGO_TEMPLATE},
        },
    },
)

_REPLICA = {
    "type": "object",
    "required": ["replicas", "template"],
    "properties": {
        "replicas": {"type": "integer", "minimum": 1},
        "restartPolicy": {"enum": ["Always", "OnFailure", "Never", "ExitCode"]},
        "template": {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["containers"],
                    "properties": {
                        "containers": {
                            "type": "array",
                            "minItems": 1,
                            "contains": {
                                "type": "object",
                                "properties": {"name": {"const": "pytorch"}},
                                "required": ["name"],
                            },
                        }
                    },
                }
            },
        },
    },
}

# kubeflow.org/v1 PyTorchJob (Kubeflow Training Operator v1 API)
PYTORCH_JOB = _crd(
    "kubeflow.org/v1",
    "PyTorchJob",
    {
        "type": "object",
        "required": ["pytorchReplicaSpecs"],
        "properties": {
            "runPolicy": {
                "type": "object",
                "properties": {
                    "cleanPodPolicy": {"enum": ["All", "Running", "None"]},
                    "ttlSecondsAfterFinished": {"type": "integer"},
                },
            },
            "pytorchReplicaSpecs": {
                "type": "object",
                "additionalProperties": False,
                "required": ["Master"],
                "properties": {"Master": _REPLICA, "Worker": _REPLICA},
            },
        },
    },
)

CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): VPA,
    ("serving.kserve.io/v1beta1", "InferenceService"): INFERENCE_SERVICE,
    ("argoproj.io/v1alpha1", "Workflow"): ARGO_WORKFLOW,
    ("kubeflow.org/v1", "PyTorchJob"): PYTORCH_JOB,
}
