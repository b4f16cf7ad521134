"""Migration operations for indexes on tables of millions of rows (issue 20)."""

from django.db.migrations.operations import AddIndex


class AddIndexConcurrently(AddIndex):
    """AddIndex that builds with CREATE INDEX CONCURRENTLY on PostgreSQL, so writers are not blocked while a
    large table is indexed, and as a plain AddIndex elsewhere (SQLite). The migration must be non-atomic
    (`atomic = False`): PostgreSQL refuses CONCURRENTLY inside a transaction."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not self._concurrently(app_label, schema_editor, to_state, "add_index"):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not self._concurrently(app_label, schema_editor, from_state, "remove_index"):
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def _concurrently(self, app_label, schema_editor, state, method: str) -> bool:
        """Add or remove the index CONCURRENTLY on PostgreSQL; False elsewhere, where AddIndex does it."""
        if schema_editor.connection.vendor != "postgresql":
            return False
        model = state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            getattr(schema_editor, method)(model, self.index, concurrently=True)
        return True


def create_concurrently_on_postgres(name: str, table: str, definition: str):
    """A RunPython pair for an index Django's Index cannot describe on every database (an operator class on an
    expression): built CONCURRENTLY on PostgreSQL, nothing elsewhere. Use with `atomic=False`."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    return forwards, backwards
