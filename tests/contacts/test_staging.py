"""Staging tables carry any value through unchanged, on SQLite and through COPY on PostgreSQL."""

import pyarrow as pa

from django.db import connection, transaction

from contacts.signal_staging import SignalBatch
from contacts.staging import StagingTable, db_datetime
from tests.factories import at

TRICKY = ["plain", "tab\there", "new\nline", "back\\slash", "cr\rreturn", "\\N", "", "ünïcödé"]


def test_values_round_trip_through_the_staging_table(db):
    rows = [(i, text, at("2026-11-20T08:30:00.250000") if i % 2 else None) for i, text in enumerate(TRICKY)]
    with transaction.atomic(), StagingTable("staging_probe", {"n": "int", "s": "text", "t": "ts"}) as table:
        assert table.load(["n", "s", "t"], iter(rows)) == len(rows)
        with connection.cursor() as cursor:
            cursor.execute("SELECT n, s, t FROM staging_probe ORDER BY n")
            loaded = cursor.fetchall()
    assert [s for _, s, _ in loaded] == TRICKY
    assert [n for n, _, _ in loaded] == list(range(len(TRICKY)))
    assert [t is None for _, _, t in loaded] == [i % 2 == 0 for i in range(len(TRICKY))]


def test_defaults_fill_the_columns_a_batch_does_not_load(db):
    columns = {"n": "int", "reason": "text"}
    with transaction.atomic(), StagingTable("staging_probe", columns, {"reason": "deactivated"}) as table:
        table.load(["n"], [(1,), (2,)])
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT reason FROM staging_probe")
            assert cursor.fetchall() == [("deactivated",)]


def test_a_signal_batch_stages_columns_and_fills_in_its_fixed_values(db):
    stamps = pa.array([at("2026-11-20T00:00:00"), at("2026-11-21T08:30:15"), None], pa.timestamp("s", tz="UTC"))
    phones = ["+12025550143", 'odd,"quoted"', "+12025550143"]
    columns = pa.table({"seq": [7, 8, 9], "phone": phones, "occurred_at": stamps})
    fixed = {"action": "opt_out", "reason": "deactivated", "scope_id": None, "ref_id": 42}
    with transaction.atomic(), SignalBatch(fixed=fixed) as batch:
        assert batch.load_columns(columns) == 3
        batch.loaded()
        signals = f"SELECT seq, phone, action, reason, scope_id, ref_id FROM ({batch.signals_sql()}) b"
        with connection.cursor() as cursor:
            cursor.execute(f"{signals} ORDER BY seq")
            staged = cursor.fetchall()
            # Compared the way the rules compare them: with a timestamp as the database stores it.
            cursor.execute(f"SELECT seq FROM ({batch.signals_sql()}) b WHERE occurred_at = %s",
                           [db_datetime(at("2026-11-21T08:30:15"))])  # fmt: skip
            at_that_moment = cursor.fetchall()
        counted, repeated = batch.count(), batch.repeated_numbers()
    assert staged == [
        (7, "+12025550143", "opt_out", "deactivated", None, 42),
        (8, 'odd,"quoted"', "opt_out", "deactivated", None, 42),
        (9, "+12025550143", "opt_out", "deactivated", None, 42),
    ]
    assert at_that_moment == [(8,)]
    assert (counted, repeated) == (3, 1)


def test_columns_stage_timestamps_as_the_database_compares_them(db):
    # A consent with microseconds, or none, must compare with stored timestamps as the ORM wrote them (R4).
    moments = [at("2026-11-20T08:30:00"), at("2026-11-20T08:30:00.250000"), at("1901-01-01T00:00:00.000001"), None]
    columns = pa.table({"n": [0, 1, 2, 3], "s": TRICKY[:4], "t": pa.array(moments, pa.timestamp("us", tz="UTC"))})
    with transaction.atomic(), StagingTable("staging_probe", {"n": "int", "s": "text", "t": "ts"}) as table:
        assert table.load_columns(columns) == 4
        with connection.cursor() as cursor:
            matched = []
            for moment in moments[:3]:
                cursor.execute("SELECT n FROM staging_probe WHERE t = %s", [db_datetime(moment)])
                matched.append(cursor.fetchall())
            cursor.execute("SELECT s FROM staging_probe ORDER BY n")
            texts = [s for (s,) in cursor.fetchall()]
    assert matched == [[(0,)], [(1,)], [(2,)]]
    assert texts == TRICKY[:4]
