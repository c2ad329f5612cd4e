#!/usr/bin/env bash
# N replicas of the app behind Debian's nginx, all on loopback, for trying a deployment on one machine.
#
#   deploy/local.sh N       start N `streamlit run app.py` replicas on free loopback ports and nginx in front of them
#                           (deploy/nginx.conf.in, cookie affinity); prints the proxy's URL on its first line, then
#                           each replica's URL, once all answer; stays in the foreground: Ctrl-C stops everything
#   deploy/local.sh stop    stop what a run started (from its state file), e.g. from another terminal
#
# Environment: PROXY_PORT (default: a free port), PYTHON (default: python3), NGINX (default: /usr/sbin/nginx),
# REALNVP_LOCAL_STATE (state folder: the PID file "pids" with lines "replica|nginx PORT PID", the rendered nginx
# configuration, and every process's log; default: $TMPDIR/realnvp-local-$UID). Replicas inherit the rest of the
# environment (REALNVP_TRAINING_SLOTS, ...; REALNVP_TRAINING_PROCESSES defaults to cores / N, at least 1). Everything runs as the calling user (started as root, nginx's workers
# run as "nobody": the configuration gives them nothing to write); nothing is written outside the state folder.
set -euo pipefail
set -m # every background process gets a process group of its own (its PID): stopped as a group, by that PID

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${REALNVP_LOCAL_STATE:-${TMPDIR:-/tmp}/realnvp-local-$(id -u)}
PIDS=$STATE/pids
PYTHON=${PYTHON:-python3}
NGINX=${NGINX:-/usr/sbin/nginx}

say() { echo "local.sh: $*" >&2; }

ours() { # is PID alive and one of ours (streamlit or nginx), not a recycled PID?
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -e streamlit -e nginx
}

signal_pid() { # signal a process, or its whole group when it leads one (nginx's workers, streamlit's threads)
  local sig=$1 pid=$2 pgrp
  pgrp=$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null || true)
  if [ "$pgrp" = "$pid" ]; then kill "-$sig" -- "-$pid" 2>/dev/null || true; else kill "-$sig" "$pid" 2>/dev/null || true; fi
}

stop_all() { # idempotent: nginx first (no new requests), then the replicas; TERM, then KILL after 10 s
  [ -f "$PIDS" ] || return 0
  local pids=() kind port pid
  while read -r kind port pid; do
    [ -n "${pid:-}" ] || continue
    if [ "$kind" = nginx ]; then pids=("$pid" "${pids[@]}"); else pids+=("$pid"); fi
  done <"$PIDS"
  for pid in "${pids[@]}"; do ours "$pid" && signal_pid TERM "$pid"; done
  for _ in $(seq 100); do
    local left=0
    for pid in "${pids[@]}"; do ours "$pid" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do ours "$pid" && signal_pid KILL "$pid"; done
  rm -f "$PIDS"
  say "stopped ${#pids[@]} processes"
}

wait_health() { # URL [PID]: until URL answers "ok" (120 s), or the process PID has exited
  "$PYTHON" - "$@" <<'EOF'
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None
deadline = time.time() + 120
while time.time() < deadline:
    if pid is not None and not os.path.exists(f"/proc/{pid}"):
        sys.exit(f"process {pid} exited before {url} answered")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.read().strip() == b"ok":
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(f"{url} did not answer ok within 120 s")
EOF
}

start() {
  local n=$1
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 16 ]; then
    say "N must be a number of replicas from 1 to 16, got '$n'"
    exit 2
  fi
  [ -x "$NGINX" ] || { say "nginx not found at $NGINX (Debian: apt-get install -y nginx)"; exit 2; }
  if [ -f "$PIDS" ]; then
    while read -r _ _ pid; do
      if [ -n "${pid:-}" ] && ours "$pid"; then say "already running (state in $STATE): deploy/local.sh stop"; exit 1; fi
    done <"$PIDS"
  fi
  mkdir -p "$STATE/nginx/tmp"
  : >"$PIDS"
  trap 'stop_all' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  local ports
  read -r -a ports <<<"$("$PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$((n + 1))")"
  local proxy_port=${PROXY_PORT:-${ports[$n]}}

  cd "$ROOT"
  # each replica trains in worker processes of its own (README "Serving a room"): the machine's cores shared out
  local cores
  cores=$(nproc 2>/dev/null || echo 1)
  export REALNVP_TRAINING_PROCESSES=${REALNVP_TRAINING_PROCESSES:-$((cores / n > 0 ? cores / n : 1))}
  local i port pid servers=""
  for ((i = 0; i < n; i++)); do
    port=${ports[$i]}
    "$PYTHON" -m streamlit run app.py --server.address 127.0.0.1 --server.port "$port" --server.headless true \
      --browser.gatherUsageStats false >"$STATE/replica-$port.log" 2>&1 </dev/null &
    echo "replica $port $!" >>"$PIDS"
    servers+="        server 127.0.0.1:$port max_fails=3 fail_timeout=10s;\\n"
  done
  while read -r _ port pid; do
    wait_health "http://127.0.0.1:$port/_stcore/health" "$pid" ||
      { say "replica on port $port failed; its log:"; tail -n 20 "$STATE/replica-$port.log" >&2; exit 1; }
  done <"$PIDS"

  sed -e "s|@LISTEN@|127.0.0.1:$proxy_port|" -e "s|^@SERVERS@\$|${servers%\\n}|" \
    "$ROOT/deploy/nginx.conf.in" >"$STATE/nginx/nginx.conf"
  "$NGINX" -t -q -p "$STATE/nginx/" -c "$STATE/nginx/nginx.conf" -e stderr
  "$NGINX" -p "$STATE/nginx/" -c "$STATE/nginx/nginx.conf" -e stderr -g 'daemon off;' \
    >"$STATE/nginx.log" 2>&1 </dev/null &
  echo "nginx $proxy_port $!" >>"$PIDS"
  wait_health "http://127.0.0.1:$proxy_port/healthz" "$!" ||
    { say "nginx failed; its log:"; tail -n 20 "$STATE/nginx.log" >&2; exit 1; }

  echo "http://127.0.0.1:$proxy_port"
  for port in "${ports[@]:0:$n}"; do echo "http://127.0.0.1:$port"; done
  say "$n replicas behind nginx; Ctrl-C (or deploy/local.sh stop) stops them. State and logs: $STATE"
  wait || true # until everything has exited (or a signal: the traps stop the rest)
}

case "${1:-}" in
  stop) stop_all ;;
  "" | -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) start "$1" ;;
esac
