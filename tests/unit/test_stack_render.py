"""Terminal output: progress lines and tables line up and show every value."""

from __future__ import annotations

from coelho.stack.render import domains_table, progress_line, services_table


def test_progress_line_has_check_name_address_and_time() -> None:
    line = progress_line("kafka", "127.0.0.1:9092", 3.21)
    assert "\u2713" in line and "kafka" in line and "127.0.0.1:9092" in line
    assert line.endswith("3.2 s")


def test_services_table_columns_line_up() -> None:
    text = services_table({"kafka": "127.0.0.1:9092", "learn-ecci": "http://127.0.0.1:8083"})
    lines = text.splitlines()
    assert lines[0].split() == ["service", "address"]
    assert (
        lines[2].index("127.0.0.1:9092") == lines[3].index("http://") == lines[0].index("address")
    )


def test_domains_table_shows_counters_and_metrics() -> None:
    text = domains_table(
        {
            "tfd": {
                "events_learned": 200,
                "duplicates_skipped": 3,
                "dead_lettered": 0,
                "state_version": 4,
                "metrics": {"ROCAUC": 0.91234},
            }
        }
    )
    row = text.splitlines()[2].split()
    assert row[:5] == ["tfd", "200", "3", "0", "4"]
    assert "ROCAUC=0.9123" in text


def test_domains_table_shows_the_guard_state() -> None:
    text = domains_table({"eta": {"events_learned": 5, "health": {"state": "diverged"}},
                          "tfd": {"events_learned": 5}})  # fmt: skip
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:]}
    assert "health" in text.splitlines()[0]
    assert rows["eta"][-2] == "diverged" and rows["tfd"][-2] == "ok"  # health, then metrics
