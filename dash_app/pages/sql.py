"""Delta Lake SQL: one SELECT over a domain's archived events, answered by the query function.

``/<domain>/sql``: a template picker (the domain module's ``sql_templates``), an editor, Run and
Clear, and the result in a table with native sort, filter and pagination; the counter says how
many rows the filter shows of how many the query returned, and how long the query took. The
SQL runs in the query function (locked-down DuckDB over the Delta table registered as
``data``), never in the dashboard; a refusal comes back as the function's own message.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update

from coelho.domains import REGISTRY
from dash_app import config, ids
from dash_app.clients.problem import Problem
from dash_app.clients.query import run_sql
from dash_app.components.alerts import alert, muted
from dash_app.components.domain_tabs import tabs

PAGE_SIZE = 20

dash.register_page(
    __name__,
    path_template="/<domain>/sql",
    name="Delta Lake SQL",
    title="Delta Lake SQL · COELHO",
    description="SQL over the events each domain has archived to Delta Lake",
)


def layout(domain: str | None = None, **kwargs: Any) -> html.Div:
    spec = REGISTRY.get(domain or "")
    if spec is None or not spec.table:
        return html.Div(alert(Problem("No such SQL page", f"Unknown domain {domain!r}; try "
                                      + ", ".join(f"/{k}/sql" for k in REGISTRY))))  # fmt: skip
    templates = [{"label": label, "value": sql} for label, sql in spec.sql_templates]
    first = spec.sql_templates[0][1] if spec.sql_templates else "SELECT * FROM data LIMIT 100"
    editor = dbc.Card(dbc.CardBody([
        html.H5("SQL editor", className="card-title"),
        html.P(["One SELECT over ", html.Code("data"), f": the Delta table {spec.table} "
                "(every event the learn function acknowledged, with its CloudEvent id, Kafka "
                "position and ingestion time)."], className="small text-muted"),
        dbc.Label("Template", html_for=ids.SQL_TEMPLATE),
        dcc.Dropdown(templates, id=ids.SQL_TEMPLATE, clearable=False,
                     placeholder="Pick a template"),
        dcc.Textarea(id=ids.SQL_EDITOR, value=first, spellCheck=False,
                     className="form-control font-monospace mt-2", style={"height": "9rem"}),
        html.Div([
            dbc.Button("Run", id=ids.SQL_RUN, color="primary", className="me-2"),
            dbc.Button("Clear", id=ids.SQL_CLEAR, color="secondary", outline=True),
        ], className="mt-2"),
    ]), className="mb-3")  # fmt: skip
    table = dash_table.DataTable(
        id=ids.SQL_TABLE, columns=[], data=[], sort_action="native", filter_action="native",
        page_action="native", page_size=PAGE_SIZE, style_table={"overflowX": "auto"},
        style_cell={"fontFamily": "monospace", "fontSize": "0.85rem", "maxWidth": "22rem",
                    "overflow": "hidden", "textOverflow": "ellipsis"},
        style_header={"fontWeight": "bold"},
    )  # fmt: skip
    return html.Div([
        dcc.Store(id=ids.SQL_DOMAIN, data=spec.key),
        dcc.Store(id=ids.SQL_RESULT),
        html.H3(f"{spec.title} · Delta Lake SQL", className="mb-3"),
        tabs(spec, "sql"),
        editor,
        html.Div(id=ids.SQL_ALERT),
        html.Div(muted("Run a query to see rows."), id=ids.SQL_COUNTER, className="mb-2"),
        dcc.Loading(table, type="dot"),
    ])  # fmt: skip


@callback(
    Output(ids.SQL_EDITOR, "value"),
    Input(ids.SQL_TEMPLATE, "value"),
    prevent_initial_call=True,
)
def pick_template(sql: str | None) -> Any:
    return sql or no_update


@callback(
    Output(ids.SQL_TABLE, "columns"),
    Output(ids.SQL_TABLE, "data"),
    Output(ids.SQL_RESULT, "data"),
    Output(ids.SQL_ALERT, "children"),
    Output(ids.SQL_EDITOR, "value", allow_duplicate=True),
    # A new result starts unfiltered, unsorted, on its first page (its columns are new).
    Output(ids.SQL_TABLE, "filter_query"),
    Output(ids.SQL_TABLE, "sort_by"),
    Output(ids.SQL_TABLE, "page_current"),
    Input(ids.SQL_RUN, "n_clicks"),
    Input(ids.SQL_CLEAR, "n_clicks"),
    State(ids.SQL_EDITOR, "value"),
    State(ids.SQL_DOMAIN, "data"),
    prevent_initial_call=True,
)
def run_or_clear(run: int | None, clear: int | None, sql: str | None, domain: str) -> tuple:
    reset = ("", [], 0)
    if dash.ctx.triggered_id == ids.SQL_CLEAR:
        return [], [], None, None, "", *reset
    return (*answer(domain, sql or ""), no_update, *reset)


def answer(domain: str, sql: str) -> tuple[list[dict[str, str]], list[dict[str, Any]], Any, Any]:
    """(columns, rows, result summary, alert) for ``sql`` on ``domain``'s table."""
    if not sql.strip():
        return [], [], None, alert(Problem("Nothing to run", "Write a SELECT or pick a template."))
    outcome = run_sql(config.get(), REGISTRY[domain].table, sql)
    if outcome.problem is not None or outcome.body is None:
        return [], [], None, alert(outcome.problem)
    body = outcome.body
    names = [c["name"] for c in body["columns"]]
    # Column ids must be unique and plain: a query may return two columns of one name.
    keys = [f"c{i}" for i in range(len(names))]
    columns = [{"name": name, "id": key} for name, key in zip(names, keys, strict=True)]
    rows = [dict(zip(keys, row, strict=True)) for row in body["rows"]]
    summary = {k: body[k] for k in ("row_count", "truncated", "elapsed_ms", "engine")}
    return columns, rows, summary, None


@callback(
    Output(ids.SQL_COUNTER, "children"),
    Input(ids.SQL_TABLE, "derived_virtual_data"),
    Input(ids.SQL_RESULT, "data"),
)
def counter(shown: list[dict[str, Any]] | None, summary: dict[str, Any] | None) -> Any:
    if not summary:
        return muted("Run a query to see rows.")
    total = summary["row_count"]
    visible = total if shown is None else len(shown)
    elapsed = f"{summary['elapsed_ms']:,.1f} ms"
    text = f"{visible:,} shown / {total:,} rows · {elapsed} · {summary['engine']}"
    if summary.get("truncated"):
        text += " · truncated at the row cap: aggregate or add a LIMIT"
    return html.Span(text, className="small coelho-sql-counter")
