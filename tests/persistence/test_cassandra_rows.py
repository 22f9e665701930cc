"""The Cassandra store's row factory: the driver's named rows, one class per column list."""

from persistence.cassandra_cql import row_factory


def test_rows_are_named_tuples_and_a_transaction_reports_applied() -> None:
    rows = row_factory(["[applied]", "version", "lease_fence"], [(False, 3, 7), (True, 4, None)])
    assert [(r.applied, r.version, r.lease_fence) for r in rows] == [(False, 3, 7), (True, 4, None)]
    assert tuple(rows[0]) == (False, 3, 7)


def test_one_class_per_column_list() -> None:
    first = row_factory(["seq", "event_id"], [(1, "a")])[0]
    again = row_factory(["seq", "event_id"], [(2, "b")])[0]
    other = row_factory(["seq", "payload"], [(1, "{}")])[0]
    assert type(first) is type(again)
    assert type(other) is not type(first) and other.payload == "{}"
