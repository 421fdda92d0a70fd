#!/usr/bin/env bash
# The Python client's suite (`npm run test:py`): pytest with Debian's interpreter (/usr/bin/python3, which has
# torch, grpcio and protobuf from apt; the python3 first on PATH may be another one), against real `qstep serve`
# processes that the fixtures start. Extra arguments go to pytest (e.g. -k adamw).
set -euo pipefail
cd "$(dirname "$0")"
PY=${QSTEP_PYTHON:-/usr/bin/python3}
rc=0
"$PY" -m pytest -p no:cacheprovider -q tests "$@" || rc=$?
# pytest exits 5 when it collected no test: for this suite that means it is broken, not green.
if [ "$rc" = 5 ]; then
  echo "test:py: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
