"""The request side of each function: small services that functions' ``main.py`` wrap.

A function's ``main.py`` is three lines: build the service once at import, then hand every
request to ``service.handle``. All routes (CloudEvent POST, health probes, metrics) are
answered here so that ``kn func deploy``'s GET probes work with the ``@http`` signature.
"""

from __future__ import annotations
