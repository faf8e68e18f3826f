#!/bin/sh
# The README's first command, on Debian 12 as root: installs what keel and its
# tests need, builds keel, puts `keel` on the PATH (npm link) and starts the
# seed 004 demo in a three-node sandbox (`keel up --demo`; extra arguments go
# to it, e.g. --proxy-mode userspace). Running it again changes nothing: the
# packages and node_modules are there, the sandbox is reported as already up
# and the demo's objects as unchanged.
set -eu
cd "$(dirname "$0")/.."

packages="etcd-server etcd-client iptables iproute2 conntrack containernetworking-plugins dnsutils curl socat openssl iperf3 ethtool haproxy wrk knot dnsperf graphviz"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "+ apt-get install$missing"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi

# npm ci empties node_modules first: not under a running sandbox's agents when nothing changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "+ npm ci"
  npm ci
fi
echo "+ npm run build"
npm run build --silent
echo "+ npm link"
npm link --silent
echo "+ keel up --demo $*"
keel up --demo "$@"
