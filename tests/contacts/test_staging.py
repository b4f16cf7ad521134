"""Staging tables carry any value through unchanged, on SQLite and through COPY on PostgreSQL."""

from django.db import connection, transaction

from contacts.staging import StagingTable
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
