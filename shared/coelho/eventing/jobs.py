"""Read a JobSink manifest (``sinks.knative.dev/v1alpha1``): its ``spec.job`` is a batch/v1 Job.

Knative's job-sink creates one Job per event from that template and mounts the event at
``/etc/jobsink-event/event``. The emulator runs one local process per event instead
(coelho.eventing.jobsink), so of the Job it honours ``backoffLimit``,
``activeDeadlineSeconds`` and the pod's ``terminationGracePeriodSeconds``, and it needs one
container; the command comes from the jobs map given at start, as a Service's URL comes from
the services map. Pod and container fields that only matter to a kubelet (image, resources,
security context, volumes, service account...) are accepted and have no local effect; fields
that change what runs (several completions or containers, init containers, indexed jobs,
pod failure policies) are "unsupported", so nothing is silently ignored.
"""

from __future__ import annotations

from typing import Any

from coelho.eventing import model as m
from coelho.eventing.duck import Ctx, integer, join, mapping

JOB_SPEC = ("template", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished",
            "completions", "parallelism")  # fmt: skip
JOB_SPEC_UNSUPPORTED = ("completionMode", "suspend", "podFailurePolicy", "backoffLimitPerIndex",
                        "maxFailedIndexes", "successPolicy", "managedBy", "podReplacementPolicy",
                        "manualSelector", "selector")  # fmt: skip
# Pod fields a kubelet acts on and a local process cannot: accepted, no local effect.
POD_CLUSTER_ONLY = ("serviceAccountName", "automountServiceAccountToken", "securityContext",
                    "volumes", "nodeSelector", "tolerations", "affinity", "priorityClassName",
                    "imagePullSecrets", "enableServiceLinks")  # fmt: skip
POD_UNSUPPORTED = ("initContainers", "ephemeralContainers", "hostNetwork", "hostPID")
CONTAINER = ("name", "image", "imagePullPolicy", "command", "args", "env", "envFrom",
             "resources", "securityContext", "volumeMounts", "workingDir")  # fmt: skip


def job_sink(ctx: Ctx, doc: dict[str, Any], meta: m.Meta) -> m.JobSink:
    spec = mapping(ctx, doc.get("spec"), "spec", ("job",))
    if spec.get("job") is None:
        ctx.fail("spec.job", "required (missing field(s))")
    job = mapping(ctx, spec["job"], "spec.job", ("metadata", "spec"), ("apiVersion", "kind"))
    path = "spec.job.spec"
    job_spec = mapping(ctx, job.get("spec"), path, JOB_SPEC, JOB_SPEC_UNSUPPORTED)
    for key in ("completions", "parallelism"):
        if integer(ctx, job_spec, key, path, 1) not in (None, 1):
            ctx.fail(join(path, key), "unsupported: the emulator runs one pod per Job")
    backoff = integer(ctx, job_spec, "backoffLimit", path, 0)
    deadline = integer(ctx, job_spec, "activeDeadlineSeconds", path, 1)
    integer(ctx, job_spec, "ttlSecondsAfterFinished", path, 0)
    template = mapping(ctx, job_spec.get("template"), join(path, "template"), ("metadata", "spec"))
    pod_path = join(path, "template.spec")
    allowed = ("containers", "restartPolicy", "terminationGracePeriodSeconds", *POD_CLUSTER_ONLY)
    pod = mapping(ctx, template.get("spec"), pod_path, allowed, POD_UNSUPPORTED)
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        ctx.fail(join(pod_path, "restartPolicy"), "required: Never or OnFailure (a Job's pods)")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        ctx.fail(join(pod_path, "containers"), "required: a list with one container")
    if len(containers) > 1:
        ctx.fail(join(pod_path, "containers"), "unsupported: the emulator runs one container")
    container = mapping(ctx, containers[0], join(pod_path, "containers[0]"), CONTAINER)
    name = container.get("name")
    if not isinstance(name, str) or not name:
        ctx.fail(join(pod_path, "containers[0].name"), "required")
    grace = integer(ctx, pod, "terminationGracePeriodSeconds", pod_path, 0)
    return m.JobSink(
        meta=meta,
        container=name,
        backoff_limit=6 if backoff is None else backoff,
        active_deadline=None if deadline is None else float(deadline),
        termination_grace=30.0 if grace is None else float(grace),
    )
