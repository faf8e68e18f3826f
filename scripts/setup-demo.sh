#!/bin/sh
# The README's first command, on Debian 12 as root: installs what keel and its
# tests need, builds keel, puts `keel` on the PATH (npm link) and starts the
# seed 004 demo in a three-node sandbox (`keel up --demo`; extra arguments go
# to it, e.g. --proxy-mode userspace). Running it again changes nothing: the
# packages and node_modules are there, the sandbox is reported as already up
# and the demo's objects as unchanged.
set -eu
cd "$(dirname "$0")/.."

packages="etcd-server etcd-client iptables nftables iproute2 conntrack containernetworking-plugins dnsutils curl socat openssl iperf3 ethtool haproxy wrk knot dnsperf graphviz nginx redis-server"
# The sandbox runs nginx and redis-server inside its pods, each with its own
# configuration under the run directory; Debian's packages would also start
# them as host services on ports 80 and 6379. For the packages installed here
# that is kept from happening: a policy-rc.d (unless the machine has its own)
# stops apt from starting them, and their services are left disabled.
pod_programs="nginx redis-server"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "+ apt-get install$missing"
  apt-get update
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    trap 'rm -f "$policy"' EXIT
    trap 'exit 130' INT TERM
    printf '#!/bin/sh\n# keel scripts/setup-demo.sh, removed when it ends: no host nginx or redis-server\ncase "$1" in nginx|nginx.service|redis-server|redis-server.service) exit 101 ;; esac\nexit 0\n' >"$policy"
    chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
  if [ -n "$policy" ]; then
    rm -f "$policy"
    trap - EXIT INT TERM
  fi
  for p in $pod_programs; do
    case " $missing " in
      *" $p "*)
        systemctl disable --quiet "$p" 2>/dev/null || true
        echo "note: $p is installed for the sandbox's pods; its host service is left disabled (systemctl enable --now $p to run it)"
        ;;
    esac
  done
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
