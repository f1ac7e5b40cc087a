"""The local stack behind ``make up``: real servers on 127.0.0.1, supervised.

This package is the only place that knows how servers are started:

- ``ports``: free loopback ports, with a preferred default when it is free.
- ``processes``: one child process with its log file, readiness wait and clean stop.
- ``kafka`` / ``redis``: Apache Kafka (KRaft, jars from Maven) and redis-server.
- ``config`` / ``supervisor``: the table of functions and the ``coelho up`` supervisor.
"""

from __future__ import annotations
