#!/usr/bin/env bash
# Static security checks run by `make test`: bandit on our code (medium severity and above fail the run) and
# pip-audit on the installed dependencies. This machine reaches a PyPI mirror that does not serve the
# vulnerability API, so pip-audit reports every package as "could not be audited"; that is printed, not
# failed. A known vulnerability found anywhere fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

"$VENV/bin/bandit" -q -r app jobs -ll
out=$(timeout 120 "$VENV/bin/pip-audit" --progress-spinner off 2>&1) && status=0 || status=$?
if grep -Eq "Found [0-9]+ known vulnerabilit" <<<"$out" || { [ "$status" -ne 0 ] && ! grep -q "could not be audited" <<<"$out"; }; then
  echo "$out"
  exit "$status"
fi
if grep -q "could not be audited" <<<"$out"; then
  echo "pip-audit: advisory data unreachable from this machine; $(grep -c 'could not be audited' <<<"$out") packages not audited"
else
  echo "pip-audit: $(head -n1 <<<"$out")"
fi
