"""Batch trainer: the job a JobSink runs for each coelho.batch.train.requested CloudEvent.

Not an HTTP function: training takes minutes, so it runs as a Kubernetes Job (Knative's
JobSink, eventing/500-train.yaml) and, locally, as a subprocess the eventing emulator starts
per event. The event is read from ``/etc/jobsink-event/event`` (``COELHO_JOBSINK_EVENT``
locally); ``python main.py [EVENT_FILE]``. See coelho.batch.job.
"""

from __future__ import annotations

import sys

from coelho.batch.job import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
