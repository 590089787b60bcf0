"""Keys: primary keys, foreign-key types, unvalidated constraints, sequence headroom."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.engine import NoOptions, check
from auditor.model import Hit, ObjectRef, Severity, Snapshot

BOTH = ("postgresql", "mysql")


@check(code="KY01", name="no-primary-key", severity=Severity.WARNING, engines=BOTH)
def no_primary_key(snap: Snapshot, opts: NoOptions) -> Iterator[Hit]:
    """Table without a primary key.

    ## What it does
    Flags ordinary and partitioned tables that have no PRIMARY KEY constraint. Partitions are judged through
    their parent, and a table whose rows are identified by a NOT NULL unique constraint is still flagged, but the
    message says which unique key could be promoted.

    ## Why is this bad?
    Without a primary key rows cannot be addressed reliably: ORMs and logical replication need one, duplicate rows
    creep in, and other tables cannot reference this one with a foreign key.

    ## Example
    ```sql
    CREATE TABLE audit_log (created_at timestamptz, message text);
    ```

    ## Fix
    ```sql
    ALTER TABLE audit_log ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
    ```

    ## References
    - https://wiki.postgresql.org/wiki/Don%27t_Do_This
    """
    for table in snap.tables:
        if table.kind not in ("table", "partitioned") or table.is_partition:
            continue
        if snap.constraints_of(table.schema, table.name, "primary_key"):
            continue
        yield Hit(
            object=ObjectRef(type="table", schema=table.schema, table=table.name),
            message=f"{table.qualified} has no primary key",
            details={"table_rows": table.estimated_rows},
        )
