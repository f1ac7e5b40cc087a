"""Batch ML beside the online models: scikit-learn trained from the lakehouse, as a job.

Why: a data scientist judges an online model against an offline baseline trained on the
same data. Each domain's Delta table (coelho.lakehouse) trains a scikit-learn model chosen by
the domain module (``Domain.batch``, coelho.domains.batch); the River pipeline is replayed
over the same rows and both are scored on the same, newest, holdout.

**A training is a job, triggered by an event.** ``coelho train`` and the dashboard send a
CloudEvent ``coelho.batch.train.requested`` (``request``) to the Broker; the Trigger
``train`` routes it to the JobSink ``train`` (eventing/500-train.yaml), which on the cluster
creates one Kubernetes Job per event with the event mounted as a file, and locally is
emulated by coelho.eventing (a subprocess per event). The Job runs ``job.main``. Nothing
trains in a request thread or in a scale-to-zero Service.

**Invariants.**

1. *One training per domain.* The job takes the domain's lock before anything else; a second
   request is refused with the running one's id (``status``). A killed job loses the lock
   within 30 s and readers record its training as failed.
2. *All or nothing in the registry.* The model is registered last, after every metric and
   artifact is logged; a stop (the Stop button, ``coelho train --stop``, SIGTERM) is honoured
   up to just before registration and leaves a KILLED run and no version (``registry``).
3. *The future judges the past.* Rows are split by the events' own time: older 80 % train,
   newest 20 % holdout; preprocessing is fitted on the training rows only (``data``,
   ``features``).
4. *Same inputs in training and serving.* Features derive from the domain's ``FieldSpec``s
   (``frame``: no ids, targets, debug fields or free text; categorical codes from the
   choices) and one frame builder serves Delta rows and JSON requests alike.

Modules in the order a training meets them: ``request`` -> ``job`` (+ ``status``) -> ``data``
(+ ``frame``) -> ``features`` (+ ``transform``) -> ``train`` -> ``metrics``, ``compare``,
``diagnostics`` -> ``registry``; ``serving`` answers ``?model=batch`` in the predict functions
(scikit-learn imported only then), ``telemetry`` exports the status to Prometheus.
"""

from __future__ import annotations
