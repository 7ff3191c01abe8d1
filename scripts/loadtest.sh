#!/usr/bin/env bash
# Starts a throwaway server (embedded default) on 127.0.0.1, runs the load
# command against it, and stops it. Loopback only; bounded in time.
#
# LOADTEST_POOL='{RSA_2048: {exportable: 500}}' turns on keystore.pool with
# those sizes; the load starts once serve logs that its pools are full
# (LOADTEST_POOL_WAIT seconds at most, default 1800), and the pool's counts
# at shutdown (keys claimed, generated on demand, refilled) go to stderr.
set -euo pipefail
bin=${1:-bin/certcustody}
shift || true
dir=$(mktemp -d)
port=${LOADTEST_PORT:-18080}
pool=${LOADTEST_POOL:-}
finish() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ -n "$pool" ]; then grep -h '"msg":"key pool' "$dir/serve.log" >&2 || true; fi
	rm -rf "$dir"
}
trap finish EXIT
chmod 700 "$dir"
# The load generator is one user; lift the per-user throttle (10 QPS by
# default) and the account's token-key quota (1000 by default) so that the
# figures measure the server, not the limits.
printf 'throttle:\n  qps: 1000000\nkeystore:\n  max_token_keys_per_account: 0\n' > "$dir/config.yaml"
if [ -n "$pool" ]; then printf '  pool: %s\n' "$pool" >> "$dir/config.yaml"; fi
"$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" >"$dir/serve.out" 2>"$dir/serve.log" &
pid=$!
for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
if [ -n "$pool" ]; then
	start=$SECONDS
	until grep -q '"msg":"key pools full"' "$dir/serve.log"; do
		if (( SECONDS - start > ${LOADTEST_POOL_WAIT:-1800} )); then echo "key pools not full after ${LOADTEST_POOL_WAIT:-1800}s" >&2; exit 1; fi
		kill -0 "$pid" 2>/dev/null || { echo "serve exited" >&2; cat "$dir/serve.log" >&2; exit 1; }
		sleep 1
	done
	echo "key pools $pool full after $((SECONDS - start))s" >&2
fi
"$bin" --data-dir "$dir" bench --endpoint "http://127.0.0.1:$port" "$@"
