#!/usr/bin/env bash
# Runs the load command against N serve processes (default 2) that share
# one PostgreSQL database and one fresh SoftHSM token, as the nodes of a
# cluster: the same-machine figure of "Running several nodes".
#
#   scripts/clusterbench.sh BIN POSTGRES_URL [bench flags...]
#   CLUSTERBENCH_NODES=1 scripts/clusterbench.sh bin/certcustody postgres://... --scenario sign-rsa
#
# POSTGRES_URL names an empty database the caller provides (its cluster's
# settings, fsync included, are the ones measured). The nodes listen on
# 127.0.0.1 only and are stopped at the end; the token and data
# directories are removed.
set -euo pipefail
bin=${1:?usage: clusterbench.sh BIN POSTGRES_URL [bench flags...]}
url=${2:?usage: clusterbench.sh BIN POSTGRES_URL [bench flags...]}
shift 2
nodes=${CLUSTERBENCH_NODES:-2}
port=${CLUSTERBENCH_PORT:-18480}
dir=$(mktemp -d)
chmod 700 "$dir"
pids=()
finish() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap finish EXIT

module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
	if [ -e "$m" ]; then module=$m; break; fi
done
[ -n "$module" ] || { echo "SoftHSM2 not found: apt-get install softhsm2" >&2; exit 1; }
mkdir -p "$dir/tokens"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$dir/tokens" > "$SOFTHSM2_CONF"
pin=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$pin" > "$dir/pin"
softhsm2-util --init-token --free --label cluster --pin "$pin" --so-pin "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >/dev/null

mkdir -p "$dir/node-0" && chmod 700 "$dir/node-0"
CERTCUSTODY_DATABASE_URL="$url" "$bin" --data-dir "$dir/node-0" migrate >/dev/null
endpoints=""
for i in $(seq 0 $((nodes - 1))); do
	d="$dir/node-$i"
	mkdir -p "$d" && chmod 700 "$d"
	# The load generator is one user: lift the per-user throttle and the
	# account's token-key quota, as scripts/loadtest.sh does.
	printf 'listen: 127.0.0.1:%d\ndatabase:\n  url: "%s"\npkcs11:\n  module: %s\n  token_label: cluster\n  pin_file: %s\nthrottle:\n  qps: 1000000\nkeystore:\n  max_token_keys_per_account: 0\n' \
		$((port + i)) "$url" "$module" "$dir/pin" > "$d/config.yaml"
	"$bin" --data-dir "$d" serve >"$d/serve.log" 2>&1 &
	pids+=($!)
	endpoints="$endpoints${endpoints:+,}http://127.0.0.1:$((port + i))"
done
for i in $(seq 0 $((nodes - 1))); do
	for _ in $(seq 1 300); do
		curl -fsS "http://127.0.0.1:$((port + i))/readyz" >/dev/null 2>&1 && break
		kill -0 "${pids[$i]}" 2>/dev/null || { echo "node $i exited" >&2; cat "$dir/node-$i/serve.log" >&2; exit 1; }
		sleep 0.1
	done
done
creds=""
for i in $(seq 0 $((nodes - 1))); do
	if [ -e "$dir/node-$i/bootstrap-credentials.json" ]; then creds="$dir/node-$i"; break; fi
done
[ -n "$creds" ] || { echo "no node made the bootstrap credentials" >&2; exit 1; }
"$bin" --data-dir "$creds" bench --endpoint "$endpoints" "$@"
