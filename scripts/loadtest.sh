#!/usr/bin/env bash
# Starts a throwaway server (embedded default) on 127.0.0.1, runs the load
# command against it, and stops it. Loopback only; bounded in time.
set -euo pipefail
bin=${1:-bin/certcustody}
shift || true
dir=$(mktemp -d)
port=${LOADTEST_PORT:-18080}
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
chmod 700 "$dir"
# The load generator is one user; lift the per-user throttle (10 QPS by
# default) and the account's token-key quota (1000 by default) so that the
# figures measure the server, not the limits.
printf 'throttle:\n  qps: 1000000\nkeystore:\n  max_token_keys_per_account: 0\n' > "$dir/config.yaml"
"$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" >"$dir/serve.out" 2>"$dir/serve.log" &
pid=$!
for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
"$bin" --data-dir "$dir" bench --endpoint "http://127.0.0.1:$port" "$@"
