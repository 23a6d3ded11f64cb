"""The event schema is the contract between the parts: these tests pin its guarantees."""

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlsleuth.events import (
    Category,
    Event,
    TimestampQuality,
    from_epoch,
    iso,
    parse_error,
    read_jsonl,
    to_epoch_us,
    write_jsonl,
)


def sample(**overrides) -> Event:
    base = dict(
        timestamp=datetime(2026, 11, 10, 9, 19, 30, 123456, tzinfo=UTC),
        timestamp_desc="Cell Executed",
        source="notebook",
        category=Category.COMMAND,
        message='model = AutoModelForCausalLM.from_pretrained("meta-1lama/x")',
        timestamp_quality=TimestampQuality.EXACT,
        host="ml-ws-01",
        user="alice",
        evidence="fs/home/alice/work/eval.ipynb#/cells/3",
        model_repo="models/meta-1lama/x",
        pid=4242,
        cmdline="python -m ipykernel_launcher",
        extra={"execution_count": 3, "nested": {"a": [1, 2]}},
    )
    base.update(overrides)
    return Event(**base)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="naive"):
        sample(timestamp=datetime(2026, 11, 10, 9, 0, 0))


def test_other_zones_are_normalised_to_utc():
    berlin = timezone(timedelta(hours=1))
    ev = sample(timestamp=datetime(2026, 11, 10, 10, 19, 30, tzinfo=berlin))
    assert ev.timestamp.utcoffset() == timedelta(0)
    assert ev.timestamp.hour == 9


def test_epoch_conversion_keeps_microseconds_exactly():
    ev = sample(timestamp=from_epoch(1_762_766_370.000001))
    assert to_epoch_us(ev.timestamp) == 1_762_766_370_000_001
    assert iso(ev.timestamp).endswith(".000001+00:00")


def test_timesketch_row_has_required_columns_with_explicit_utc_offset():
    row = sample().to_timesketch()
    assert row["message"].startswith("model =")
    assert row["datetime"] == "2026-11-10T09:19:30.123456+00:00"
    assert row["timestamp"] == 1_794_302_370_123_456
    assert row["timestamp_desc"] == "Cell Executed"
    assert row["x_execution_count"] == 3


def test_timesketch_mapping_is_lossless():
    ev = sample(sha256="ab" * 32, verdict="malicious", index_url="https://pypi.org/simple")
    row = json.loads(json.dumps(ev.to_timesketch()))  # through JSON, as on disk
    assert Event.from_timesketch(row) == ev


def test_jsonl_round_trip_is_lossless():
    events = [sample(), sample(pid=None, timestamp_quality=TimestampQuality.ESTIMATED, extra={})]
    buf = io.StringIO()
    assert write_jsonl(events, buf) == 2
    buf.seek(0)
    assert list(read_jsonl(buf)) == events


def test_unknown_category_is_refused():
    with pytest.raises(ValueError):
        sample(category="download")


def test_parse_error_event_names_file_and_reason():
    ev = parse_error("ipython_history", "fs/home/a/.ipython/profile_default/history.sqlite",
                     "file is not a database", file_path="/home/a/.ipython/profile_default/history.sqlite")
    assert ev.category is Category.PARSE_ERROR
    assert "file is not a database" in ev.message and "/home/a/.ipython" in ev.message
    assert ev.timestamp_quality is TimestampQuality.ESTIMATED
