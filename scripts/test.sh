#!/usr/bin/env bash
# The project's test command (CI runs it too): lint, type-check, then the whole test suite
# on two workers. Extra arguments go to pytest; so does PYTEST_ADDOPTS, unchanged.
#
#   scripts/test.sh [PYTEST ARGS...]
#
# Server tests start their own Redis and Cassandra (see tests/conftest.py), or use the
# Cassandra node named by ORCHESTRION_TEST_CASSANDRA=host:port. Every step runs even when
# an earlier one failed; the exit status is non-zero if any failed, or if pytest ran no
# test at all (its exit status 5).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=()

echo "== ruff check ."
ruff check . || failed+=("ruff")

echo "== mypy"
mypy || failed+=("mypy")

echo "== pytest"
python -m pytest -n 2 --durations=25 "$@"
status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: pytest collected no tests" >&2
    failed+=("pytest (no tests)")
elif [[ $status -ne 0 ]]; then
    failed+=("pytest (exit $status)")
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: ruff, mypy and pytest passed"
