"""A batch of signals waiting for `services.apply_staged_signals`: the service's own staging (R9, R10).

Callers hand the service a `SignalBatch`, never a table name. What is the same for every signal of a batch
(a report's action, reason and carrying record) is given once, as `fixed`, and never staged per row; only
what varies (number, when, line number) is loaded — as rows, or as Arrow columns (`StagingTable.load_columns`).
"""

from django.db import connection

from contacts.staging import SQL_TYPES, StagingTable, ddl_literal, execute, fetch_int

SIGNAL_COLUMNS = {
    "seq": "int",
    "phone": "text",
    "action": "text",
    "reason": "text",
    "scope_id": "int",
    "occurred_at": "ts",
    "until_at": "ts",
    "error_code": "int",
    "carrier_id": "int",
    "ref_type_id": "int",
    "ref_id": "int",
}
TABLE = "signal_batch"
WORK_MEM = "256MB"  # for the hash tables of a million-row batch


class SignalBatch(StagingTable):
    """Signals staged in one transaction; `fixed` holds the values every signal of the batch shares."""

    def __init__(self, *, fixed: dict | None = None, defaults: dict | None = None) -> None:
        self.fixed = fixed or {}
        varying = {name: kind for name, kind in SIGNAL_COLUMNS.items() if name not in self.fixed}
        super().__init__(TABLE, varying, defaults)

    def signals_sql(self) -> str:
        """A SELECT of every signal with all of SIGNAL_COLUMNS, fixed values filled in; for the service only."""
        types = SQL_TYPES[self.vendor]
        columns = [
            f"CAST({ddl_literal(self.fixed[name])} AS {types[kind]}) AS {name}" if name in self.fixed else name
            for name, kind in SIGNAL_COLUMNS.items()
        ]
        return f"SELECT {', '.join(columns)} FROM {self.name}"

    def count(self) -> int:
        return fetch_int(f"SELECT COUNT(*) FROM {self.name}")

    def repeated_numbers(self) -> int:
        """Signals whose number an earlier signal of the batch already named (a report's duplicates, R6)."""
        # A subquery's DISTINCT can hash; COUNT(DISTINCT) always sorts the whole batch.
        return fetch_int(
            f"SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT phone FROM {self.name}) d) FROM {self.name}"
        )

    def load_query(self, columns: list[str], select: str, params: list | tuple = ()) -> int:
        """Stage the rows of `select` (one per signal, in the order of `columns`): for signals drawn from records
        already in the database — receipts and notices just recorded, the notices a ledger rebuild reads."""
        assert set(columns) <= set(self.columns), columns
        return execute(f"INSERT INTO {self.name} ({', '.join(columns)}) {select}", params)

    def loaded(self) -> None:
        """Call once the batch is whole: temporary tables are never auto-analyzed, and the planner needs counts."""
        if self.vendor == "sqlite":
            with connection.cursor() as cursor:
                # SQLite counts the repeated numbers (and finds contacts) by walking an index in order; without
                # one it builds a B-tree a row at a time: 4.4 s against 18.7 s for a million numbers.
                cursor.execute(f"CREATE INDEX {self.name}_phone ON {self.name} (phone)")
                cursor.execute(f"ANALYZE {self.name}")
        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {self.name}")
                # The batch's own passes (the repeated numbers, the join to contacts) hash a million rows:
                # with the default 4 MB they spill to disk and sort instead. Until the transaction ends.
                cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
