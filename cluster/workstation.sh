#!/usr/bin/env bash
# One workstation as a Ray cluster with an MLflow tracking server, every service of both on loopback (127.0.0.1) only.
#
#   cluster/workstation.sh start     # Ray head (dashboard + job API on 127.0.0.1) and `mlflow server` (SQLite)
#   RAY_AUTH_MODE=token .venv/bin/ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
#       python sweeps/cdc_theta.py --profile smoke
#   RAY_AUTH_MODE=token .venv/bin/ray job logs --address http://127.0.0.1:8265 --follow JOB_ID
#   MLflow UI: the server itself, http://127.0.0.1:5000
#   cluster/workstation.sh status
#   cluster/workstation.sh stop      # stops this head and this MLflow server only (not other Ray instances)
#
# The script runs the project's own environment (<repo>/.venv, else the active python's), so it works from a shell
# without the venv activated; the head puts that environment first on PATH, so a job's `python` is the project's.
# Ray 2.60 protects a local head with a token only when one exists (~/.ray/auth_token): start makes sure it does
# (`ray get-auth-token --generate`) and starts the head with RAY_AUTH_MODE=token; RAY_AUTH_MODE=token makes the
# submitting shell send it. Jobs inherit the head's environment: MLFLOW_TRACKING_URI points at the server,
# ACTREC_STORAGE / ACTREC_CACHE at the state directory, so `ray job submit` needs no extra flags. The head keeps its
# session files in its own temp directory, so sweep scripts started on this machine outside a job stay on their own
# embedded Ray unless RAY_ADDRESS is set. Such a driver joins this head only with the head's switches and does not
# inherit its environment (checked: without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 it dials the machine's outward address
# and times out; without RAY_AUTH_MODE=token the head refuses it):
#   RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token RAY_ADDRESS=127.0.0.1:6379 \
#       .venv/bin/python sweeps/cdc_theta.py --tracking-uri http://127.0.0.1:5000
#
# Settings (environment variables, defaults in brackets):
#   ACTREC_STATE    [~/.actrec/workstation]  MLflow database, MLflow artifacts, Tune runs, data cache, logs, pids
#   ACTREC_VENV     [<repo>/.venv if it exists, else the active python's environment]  where python, ray, mlflow are
#   RAY_PORT        [6379]   DASHBOARD_PORT [8265]   MLFLOW_PORT [5000]   RAY_CLIENT_PORT [10001] (Ray Client server)
#   DASHBOARD_AGENT_PORT [52365]  the head's job agent (HTTP), which runs submitted jobs
#                   start refuses any of these ports in use, before it starts anything: another server there (a
#                   user's `mlflow ui`, a sweep's embedded Ray on 8265 and 52365) would answer in place of ours,
#                   and any Ray port in Ray's worker port range 10002-19999
#   NUM_CPUS        [2 x cores]  logical CPUs of the head (more than cores: trials mostly wait on data and each other)
#   RAY_TEMP_DIR    [$ACTREC_STATE/ray]  Ray's session directory (keep the path short: it holds Unix sockets)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${ACTREC_STATE:-$HOME/.actrec/workstation}
RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
RAY_CLIENT_PORT=${RAY_CLIENT_PORT:-10001}
DASHBOARD_AGENT_PORT=${DASHBOARD_AGENT_PORT:-52365}
NUM_CPUS=${NUM_CPUS:-$((2 * $(nproc)))}
RAY_TEMP_DIR=${RAY_TEMP_DIR:-$STATE/ray}
if [[ -n ${ACTREC_VENV:-} ]]; then
  BIN=$ACTREC_VENV/bin
elif [[ -x $ROOT/.venv/bin/python ]]; then
  BIN=$ROOT/.venv/bin
else
  BIN=$(dirname "$(command -v python || echo /nonexistent/python)")
fi
GRACE=10  # seconds stop gives a process to exit on SIGTERM before SIGKILL

need_env() {  # fail at once, not after a wait for a server that cannot start
  local cmd missing=()
  for cmd in python ray mlflow; do [[ -x $BIN/$cmd ]] || missing+=("$cmd"); done
  if ((${#missing[@]})); then
    echo "workstation: ${missing[*]} not found in $BIN; run 'make setup' in $ROOT" \
      "(or set ACTREC_VENV to a virtualenv with actrec installed)" >&2
    exit 1
  fi
}

living() {  # living PID...: those of the PIDs that still run (a zombie has finished; only its parent can reap it)
  (($#)) || return 0
  { ps -o pid=,stat= -p "$(IFS=,; echo "$*")" || true; } | awk '$2 !~ /^Z/ { print $1 }'
}
alive() { [[ -f "$1" ]] && [[ -n $(living "$(cat "$1")") ]]; }

tree() {  # tree PID...: the PIDs and all their descendants that still run (exit 1 when none)
  ps -eo pid=,ppid=,stat= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2; stat[$1] = $3 }
    END {
      do { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } } while (grew)
      for (p in keep) if ((p in stat) && stat[p] !~ /^Z/) print p
    }' | grep .
}

ray_pids() {  # every process of this head (exit 1 when none)
  # Its --temp-dir marks the head's own processes (gcs, raylet, dashboard, monitor, log monitor), and the Ray Client
  # server names this head's GCS address; the processes they start (dashboard agent, runtime-env agent, workers, the
  # dashboard's module processes) retitle themselves, so they are found as descendants.
  local roots
  roots=$({
    pgrep -f -- "$RAY_TEMP_DIR/" || true
    pgrep -f -- "ray[.]util[.]client[.]server --address=127[.]0[.]0[.]1:$RAY_PORT " || true
  } | tr '\n' ' ')
  [[ -n ${roots// /} ]] || return 1
  # shellcheck disable=SC2086
  tree $roots
}

wait_for() {  # wait_for URL WHAT LOG CHECK: until the server answers at all (Ray's dashboard answers 401 without its
  # token), or stop as soon as CHECK (a command) says the process that should answer has died
  local probe='import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass'
  for _ in $(seq 1 300); do
    "$BIN/python" -c "$probe" "$1" 2> /dev/null && return 0
    $4 || fail "$2 exited before it answered at $1" "$3"
    sleep 1
  done
  fail "$2 did not come up at $1" "$3"
}

fail() {  # fail WHAT LOG: after a failed start, show why and stop whatever this start had started
  echo "workstation: $1; end of $2:" >&2
  tail -n 20 "$2" >&2
  stop > /dev/null
  exit 1
}

mlflow_running() { alive "$STATE/mlflow.pid"; }
dashboard_running() { pgrep -f -- "dashboard[.]py .*$RAY_TEMP_DIR/" > /dev/null; }

start() {
  need_env
  if alive "$STATE/mlflow.pid" || ray_pids > /dev/null; then
    echo "workstation: already running (state $STATE); run '$0 stop' first" >&2
    exit 1
  fi
  # Every port this start binds must be free now. Another server on MLFLOW_PORT or DASHBOARD_PORT (a user's `mlflow
  # ui`, a sweep's embedded Ray) would answer the readiness checks below in place of ours, and jobs and runs would go
  # to it; the job agent's port is Ray's fixed default unless set: taken by another Ray's agent, this head would
  # start without one, and every `ray job submit` would fail with "No available agent to submit job".
  local setting
  for setting in MLFLOW_PORT RAY_PORT DASHBOARD_PORT RAY_CLIENT_PORT DASHBOARD_AGENT_PORT; do
    if ! [[ ${!setting} =~ ^[0-9]{1,5}$ ]] || ((10#${!setting} < 1 || 10#${!setting} > 65535)); then
      echo "workstation: $setting must be a port number (1-65535), got '${!setting}'" >&2
      exit 1
    fi
    if ! "$BIN/python" -c 'import socket, sys
with socket.socket() as s:
    s.bind(("127.0.0.1", int(sys.argv[1])))' "${!setting}" 2> /dev/null; then
      echo "workstation: $setting ${!setting} is in use (another MLflow server or Ray on this machine?);" \
        "set $setting to a free port" >&2
      exit 1
    fi
    # Ray gives its workers the ports 10002-19999 (`ray start` defaults) and refuses a head whose own ports lie there.
    if [[ $setting != MLFLOW_PORT && ${!setting} -ge 10002 && ${!setting} -le 19999 ]]; then
      echo "workstation: $setting ${!setting} lies in Ray's worker port range 10002-19999; set $setting outside it" >&2
      exit 1
    fi
  done
  mkdir -p "$STATE/logs" "$STATE/mlartifacts" "$STATE/runs" "$STATE/cache" "$RAY_TEMP_DIR"
  # The head and its jobs run the project's environment, whatever the calling shell has on PATH.
  export PATH="$BIN:$PATH"
  # setsid: the server leads its own process group, so stop reaches all it forks (uvicorn, job runner, huey consumers).
  setsid nohup "$BIN/mlflow" server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "sqlite:///$STATE/mlflow.db" --artifacts-destination "$STATE/mlartifacts" \
    > "$STATE/logs/mlflow.log" 2>&1 &
  echo $! > "$STATE/mlflow.pid"
  wait_for "http://127.0.0.1:$MLFLOW_PORT/health" "mlflow server" "$STATE/logs/mlflow.log" mlflow_running

  # A head without a token would run without authentication; with one, RAY_AUTH_MODE=token protects it for certain.
  "$BIN/ray" get-auth-token --generate > /dev/null 2> "$STATE/logs/ray.log" ||
    fail "'ray get-auth-token --generate' failed" "$STATE/logs/ray.log"
  # Loopback only: `ray start` replaces --node-ip-address 127.0.0.1 by the machine's outward address
  # (services.resolve_ip_for_localhost), and with a non-loopback node IP Ray 2.60's GCS, raylet (node and object
  # manager), dashboard agent and the metrics ports of the dashboard and autoscaler monitor listen on every interface,
  # the runtime-env agent and Ray Client server on that address. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes Ray take
  # 127.0.0.1 as this node's IP (as on macOS: a single-node cluster); then every server of the head, workers included,
  # binds to 127.0.0.1 alone.
  # The head's own --temp-dir marks the processes of this Ray instance, so stop reaches exactly them; a plain
  # `ray stop` would stop every Ray instance on the machine. One machine, as an embedded Ray (actrec.tune.cluster
  # EMBEDDED_RAY_ENV): no preemption watcher (its one node is never drained), Ray Train polls workers 4 times a
  # second, and 4 idle worker processes per CPU are kept, so decode tasks reuse them from pass to pass
  # (idle_workers_env) (values set win).
  MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT" ACTREC_STORAGE="$STATE/runs" ACTREC_CACHE="$STATE/cache" \
    RAY_TRAIN_ENABLE_PREEMPTION_WATCHER=${RAY_TRAIN_ENABLE_PREEMPTION_WATCHER:-0} \
    RAY_TRAIN_HEALTH_CHECK_INTERVAL_S=${RAY_TRAIN_HEALTH_CHECK_INTERVAL_S:-0.25} \
    RAY_num_workers_soft_limit=${RAY_num_workers_soft_limit:-$((4 * NUM_CPUS))} \
    RAY_AUTH_MODE=token RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 \
    "$BIN/ray" start --head --node-ip-address 127.0.0.1 --port "$RAY_PORT" --num-cpus "$NUM_CPUS" \
    --dashboard-host 127.0.0.1 --dashboard-port "$DASHBOARD_PORT" --ray-client-server-port "$RAY_CLIENT_PORT" \
    --dashboard-agent-listen-port "$DASHBOARD_AGENT_PORT" --temp-dir "$RAY_TEMP_DIR" --disable-usage-stats \
    > "$STATE/logs/ray.log" 2>&1 ||
    fail "ray start failed" "$STATE/logs/ray.log"
  wait_for "http://127.0.0.1:$DASHBOARD_PORT/api/version" "Ray head" "$STATE/logs/ray.log" dashboard_running
  echo "workstation: Ray head 127.0.0.1:$RAY_PORT, jobs http://127.0.0.1:$DASHBOARD_PORT," \
    "MLflow http://127.0.0.1:$MLFLOW_PORT (state $STATE)"
}

terminate() {  # terminate PID...: SIGTERM, then SIGKILL whatever still runs after $GRACE seconds
  local left
  kill -TERM "$@" 2> /dev/null || true
  for _ in $(seq 1 "$GRACE"); do
    left=$(living "$@")
    [[ -n $left ]] || return 0
    sleep 1
  done
  # Ray 2.60's gcs_server, raylet, monitor and runtime-env agent catch SIGTERM and can hang in their shutdown.
  # shellcheck disable=SC2086
  kill -KILL $(living "$@") 2> /dev/null || true
}

stop() {
  local pids
  if pids=$(ray_pids); then
    # Collected before any of them exits: an agent or worker whose parent has died is no longer found as its child.
    # shellcheck disable=SC2086
    terminate $pids
    # Anything the head started meanwhile.
    if pids=$(ray_pids); then
      # shellcheck disable=SC2086
      kill -KILL $pids 2> /dev/null || true
    fi
    echo "workstation: stopped Ray head"
  fi
  if alive "$STATE/mlflow.pid"; then
    local pid
    pid=$(cat "$STATE/mlflow.pid")
    # shellcheck disable=SC2046
    terminate $(tree "$pid")
    # Whatever of its process group outlived it.
    kill -KILL -- "-$pid" 2> /dev/null || true
    echo "workstation: stopped mlflow server"
  fi
  rm -f "$STATE/mlflow.pid"
}

status() {
  ray_pids > /dev/null && echo "Ray head: running ($(ray_pids | wc -l) processes)" || echo "Ray head: stopped"
  alive "$STATE/mlflow.pid" && echo "mlflow server: running (pid $(cat "$STATE/mlflow.pid"))" ||
    echo "mlflow server: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
