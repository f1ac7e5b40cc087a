"""What the supervisor does between restarts so the stack's disk use stays bounded.

Every ``ROTATE_SECONDS`` it rotates the component logs that reached ``COELHO_LOG_MAX_BYTES``
(``coelho.stack.logs``); every ``COELHO_MLFLOW_GC_SECONDS`` it runs ``mlflow gc`` on the local
MLflow's backend store in a thread, which purges the runs and logged models the registry's
retention marked deleted (``coelho.retention``). Prometheus bounds itself
(``--storage.tsdb.retention``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from coelho.stack.config import StackConfig
from coelho.stack.logs import rotate_all
from coelho.stack.mlflow import MlflowServer

log = logging.getLogger("coelho.stack")
ROTATE_SECONDS = 10.0


@dataclass
class Housekeeping:
    config: StackConfig
    mlflow: MlflowServer | None = None
    next_rotation: float = 0.0
    next_gc: float = 0.0
    _gc: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.next_gc = time.monotonic() + self.config.mlflow_gc_seconds

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now >= self.next_rotation:
            self.next_rotation = now + ROTATE_SECONDS
            for path in rotate_all(self.config.logs, self.config.log_max_bytes,
                                   self.config.log_keep):  # fmt: skip
                log.info("rotated %s (over %d bytes)", path, self.config.log_max_bytes)
        if self.mlflow is not None and now >= self.next_gc:
            self.next_gc = now + self.config.mlflow_gc_seconds
            if self._gc is None or not self._gc.is_alive():
                self._gc = threading.Thread(target=self.purge, name="mlflow-gc", daemon=True)
                self._gc.start()

    def purge(self) -> None:
        assert self.mlflow is not None
        try:
            result = self.mlflow.gc()
        except Exception:  # noqa: BLE001 - housekeeping must never stop the supervisor
            log.exception("mlflow gc failed")
            return
        if result.returncode != 0:
            log.warning("mlflow gc exited %d: %s", result.returncode, result.stderr[-500:])
