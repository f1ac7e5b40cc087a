"""The Batch ML page as components, and the callback graph rule the browser does not report.

Dash rejects, in the browser and silently in production mode, a callback whose Outputs do not
all carry the same MATCH keys: the callback never fires. The batch prediction panel once had
that bug (its result a plain id beside a MATCH alert), so the rule is checked here for every
callback of the app.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from coelho.domains import REGISTRY
from dash_app import ids
from tests.unit.dash_support import text_of

pytestmark = pytest.mark.usefixtures("dash_app_instance")
BATCH = sorted(k for k, d in REGISTRY.items() if d.batch is not None)


def _ids(tree: Any) -> set[str]:
    found = set()
    cid = getattr(tree, "id", None)
    if cid is not None:
        found.add(cid if isinstance(cid, str) else json.dumps(cid, sort_keys=True))
    children = getattr(tree, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found |= _ids(child)
    return found


@pytest.mark.parametrize("domain", BATCH)
def test_the_batch_page_has_its_training_box_runs_comparison_and_form(domain: str) -> None:
    from dash_app.pages import batch

    found = _ids(batch.layout(domain))
    parts = (
        ids.BATCH_TRAIN,
        ids.BATCH_STOP,
        ids.BATCH_PROGRESS,
        ids.BATCH_RUN,
        ids.BATCH_METRICS,
        ids.BATCH_COMPARE,
        ids.BATCH_DIAGNOSTICS,
        ids.BATCH_MODEL,
    )
    for part in parts:
        assert part in found, part
    result = json.dumps(ids.part(ids.batch_page(domain), ids.BATCH_RESULT), sort_keys=True)
    assert result in found


def test_an_unknown_domain_gets_a_message_not_a_traceback() -> None:
    from dash_app.pages import batch

    assert "Unknown domain 'nope'" in text_of(batch.layout("nope"))


def _outputs(key: str) -> list[str]:
    """Output ids of a callback_map key (``id.prop`` or ``..id.prop...id.prop..``)."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    return [p.split("@")[0].rsplit(".", 1)[0] for p in parts]


def _match_keys(raw_id: str) -> frozenset[str]:
    if not raw_id.startswith("{"):
        return frozenset()
    return frozenset(k for k, v in json.loads(raw_id).items() if v == ["MATCH"])


# A fresh process: Dash moves its global callback list into the first app that serves, so
# the session's app instances cannot all show every callback.
CALLBACK_KEYS = """
import json
from dash_app.app import create_app
from dash_app.config import DashConfig
app = create_app(DashConfig(redis_url="redis://127.0.0.1:1/0", emulator_url="http://127.0.0.1:1"))
assert app.server.test_client().get("/").status_code == 200  # sets the callback map up
print(json.dumps(list(app.callback_map)))
"""


def test_every_callbacks_outputs_share_their_match_keys() -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    out = subprocess.run([sys.executable, "-c", CALLBACK_KEYS], capture_output=True, text=True,
                         cwd=REPO, timeout=120, check=True)  # fmt: skip
    keys = json.loads(out.stdout.strip().splitlines()[-1])
    assert any("batch-result" in k for k in keys)
    for key in keys:
        found = {_match_keys(output) for output in _outputs(key)}
        assert len(found) == 1, f"outputs with different MATCH keys: {key}"


def test_the_rule_catches_a_plain_output_beside_a_match_output() -> None:
    key = '..batch-result.children...{"kind":"batch-form-alert","page":["MATCH"]}.children..'
    assert len({_match_keys(o) for o in _outputs(key)}) == 2
