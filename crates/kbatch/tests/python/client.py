"""The official Kubernetes Python client against a kbatch server: create, list, watch,
patch, logs and delete, as kubectl-wire.md section 7 observed it.

Usage: client.py SERVER_URL TOKEN CA_FILE
"""

import sys
import threading

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

url, token, ca = sys.argv[1:4]
cfg = client.Configuration()
cfg.host = url
cfg.api_key = {"authorization": "Bearer " + token}
cfg.ssl_ca_cert = ca
api = client.ApiClient(cfg)
batch = client.BatchV1Api(api)
core = client.CoreV1Api(api)


def job(name):
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=name, labels={"suite": "python"}),
        spec=client.V1JobSpec(
            backoff_limit=2,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="c", image="busybox", command=["true"])],
                )
            ),
        ),
    )


created = batch.create_namespaced_job("default", job("py-1"))
assert created.metadata.uid, created
assert created.spec.completions == 1, created.spec
assert created.metadata.creation_timestamp is not None
assert created.spec.selector.match_labels["batch.kubernetes.io/controller-uid"] == created.metadata.uid

try:
    batch.create_namespaced_job("default", job("py-1"))
    raise SystemExit("a second create succeeded")
except ApiException as e:
    assert e.status == 409, e

listed = batch.list_namespaced_job("default", label_selector="suite=python")
assert [j.metadata.name for j in listed.items] == ["py-1"], listed.items
rv = listed.metadata.resource_version

seen = []


def watcher():
    w = watch.Watch()
    for event in w.stream(batch.list_namespaced_job, "default", resource_version=rv, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        # The Job controller writes py-2's status too, so other events may come between.
        if ("ADDED", "py-2") in seen and ("MODIFIED", "py-1") in seen:
            w.stop()


t = threading.Thread(target=watcher)
t.start()
batch.create_namespaced_job("default", job("py-2"))
patched = batch.patch_namespaced_job("py-1", "default", {"metadata": {"labels": {"patched": "yes"}}})
assert patched.metadata.labels["patched"] == "yes"
t.join(15)
assert ("ADDED", "py-2") in seen and ("MODIFIED", "py-1") in seen, seen

pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="two-containers"),
    spec=client.V1PodSpec(
        restart_policy="Never",
        containers=[client.V1Container(name="a", image="busybox"), client.V1Container(name="b", image="busybox")],
    ),
)
core.create_namespaced_pod("default", pod)
try:
    core.read_namespaced_pod_log("two-containers", "default")
    raise SystemExit("logs without a container name succeeded")
except ApiException as e:
    assert e.status == 400, e
    assert "a container name must be specified for pod two-containers, choose one of: [a b]" in e.body, e.body

status = batch.delete_namespaced_job("py-2", "default", propagation_policy="Foreground")
assert status is not None
try:
    batch.read_namespaced_job("nope", "default")
    raise SystemExit("read of a missing job succeeded")
except ApiException as e:
    assert e.status == 404 and 'jobs.batch \\"nope\\" not found' in e.body, e.body
print("python client: ok")
