# Network: each host is a network namespace. Veth pairs join A and B, and this machine
# (where tests and the transship process run) to each of them. Addresses are private /30s
# used by nothing else here.

NETNS_A=transship-a
NETNS_B=transship-b
NETNS_C=transship-c
NETNS_D=transship-d
# name:address, for each end of each link
LINKS=(
  "root:ts-a-host:10.213.0.1 $NETNS_A:ts-host-a:10.213.0.2"
  "root:ts-b-host:10.213.0.5 $NETNS_B:ts-host-b:10.213.0.6"
  "$NETNS_A:ts-b:10.213.0.9 $NETNS_B:ts-a:10.213.0.10"
  "root:ts-c-host:10.213.0.13 $NETNS_C:ts-host-c:10.213.0.14"
  "root:ts-d-host:10.213.0.17 $NETNS_D:ts-host-d:10.213.0.18"
)
HOST_A_ADDR=10.213.0.2
HOST_B_ADDR=10.213.0.6
HOST_C_ADDR=10.213.0.14
HOST_D_ADDR=10.213.0.18

netns_path() { echo "/run/netns/$1"; }

in_ns() { # in_ns NS|root COMMAND...
  local ns=$1
  shift
  if [ "$ns" = root ]; then "$@"; else nsenter --net="$(netns_path "$ns")" "$@"; fi
}

network_up() {
  for ns in "$NETNS_A" "$NETNS_B" "$NETNS_C" "$NETNS_D"; do
    [ -e "$(netns_path "$ns")" ] || ip netns add "$ns"
    in_ns "$ns" ip link set lo up
  done
  for link in "${LINKS[@]}"; do
    read -r left right <<<"$link"
    IFS=: read -r ns1 if1 addr1 <<<"$left"
    IFS=: read -r ns2 if2 addr2 <<<"$right"
    in_ns "$ns1" ip link show "$if1" >/dev/null 2>&1 && continue
    ip link add "$if1" type veth peer name "$if2"
    [ "$ns1" = root ] || ip link set "$if1" netns "$ns1"
    ip link set "$if2" netns "$ns2"
    in_ns "$ns1" ip addr add "$addr1/30" dev "$if1"
    in_ns "$ns2" ip addr add "$addr2/30" dev "$if2"
    in_ns "$ns1" ip link set "$if1" up
    in_ns "$ns2" ip link set "$if2" up
  done
}

network_down() {
  for ns in "$NETNS_A" "$NETNS_B" "$NETNS_C" "$NETNS_D"; do
    # Whatever still runs in a host's namespace (a crashed run's daemons) goes with it.
    if [ -e "$(netns_path "$ns")" ]; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns"
    fi
  done
  ip link del ts-a-host 2>/dev/null || true
  ip link del ts-b-host 2>/dev/null || true
  ip link del ts-c-host 2>/dev/null || true
  ip link del ts-d-host 2>/dev/null || true
}
