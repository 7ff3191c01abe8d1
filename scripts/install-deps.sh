#!/usr/bin/env bash
# Installs the Debian packages certcustody needs, only when missing.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in softhsm2 opensc openssl gcc libc6-dev make ca-certificates curl postgresql; do
	have_pkg "$pkg" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing packages: ${need[*]}; install them with your package manager (SoftHSM2, OpenSC pkcs11-tool, OpenSSL, a C compiler, PostgreSQL for the tests)" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "missing packages: ${need[*]}; run as root: apt-get install ${need[*]}" >&2; exit 1; }
	SUDO="sudo"
fi
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
