"""Known gaps: behaviours of Route 53 a backend gets wrong, as measured by this suite.

`KNOWN_GAPS[backend][test_name]` is the reason. conftest marks those tests
`xfail(strict=True)`: the day an emulator fixes one, its test passes, the xfail turns into a
failure, and the entry must be deleted here (the gap closed upstream).
"""

from __future__ import annotations

_STRICT_VALUE_ORDER = (
    "the model compares and stores values as given (tuple order), trusting callers to pass canonical, "
    "sorted RecordSets: a DELETE listing the values in another order than the CREATE is refused, and the "
    "set is listed with its values unsorted"
)

KNOWN_GAPS: dict[str, dict[str, str]] = {
    "strict-memory": {"test_delete_values_in_other_order_accepted": _STRICT_VALUE_ORDER},
    "strict-sqlite": {"test_delete_values_in_other_order_accepted": _STRICT_VALUE_ORDER},
    "moto": {},
    "localstack-stock": {},
    "localstack-strict": {},
}
