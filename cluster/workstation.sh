#!/usr/bin/env bash
# One workstation as a Ray cluster with an MLflow tracking server, both on loopback only.
#
#   cluster/workstation.sh start     # Ray head (dashboard + job API on 127.0.0.1) and `mlflow server` (SQLite)
#   RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
#       python sweeps/cdc_theta.py --profile smoke
#   MLflow UI: the server itself, http://127.0.0.1:5000
#   cluster/workstation.sh status
#   cluster/workstation.sh stop      # stops this head and this MLflow server only (not other Ray instances)
#
# Ray 2.60 protects a local head with a token (~/.ray/auth_token, written by `ray start`); RAY_AUTH_MODE=token makes
# the submitting shell send it. Jobs inherit the head's environment: MLFLOW_TRACKING_URI points at the server,
# ACTREC_STORAGE / ACTREC_CACHE at the state directory, so `ray job submit` needs no extra flags. The head keeps its
# session files in its own temp directory, so sweep scripts started on this machine outside a job stay on their own
# embedded Ray unless RAY_ADDRESS is set (e.g. RAY_ADDRESS=127.0.0.1:6379 python sweeps/...).
#
# Settings (environment variables, defaults in brackets):
#   ACTREC_STATE    [~/.actrec/workstation]  MLflow database, MLflow artifacts, Tune runs, data cache, logs, pids
#   RAY_PORT        [6379]   DASHBOARD_PORT [8265]   MLFLOW_PORT [5000]
#   NUM_CPUS        [2 x cores]  logical CPUs of the head (more than cores: trials mostly wait on data and each other)
#   RAY_TEMP_DIR    [$ACTREC_STATE/ray]  Ray's session directory (keep the path short: it holds Unix sockets)
set -euo pipefail

STATE=${ACTREC_STATE:-$HOME/.actrec/workstation}
RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
NUM_CPUS=${NUM_CPUS:-$((2 * $(nproc)))}
RAY_TEMP_DIR=${RAY_TEMP_DIR:-$STATE/ray}
BIN=$(dirname "$(command -v python)")

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2> /dev/null; }
ray_pids() { pgrep -f -- "$RAY_TEMP_DIR/"; }  # processes of this head (exit 1 when none)

wait_for() {  # wait_for URL WHAT LOG: until the server answers at all (Ray's dashboard answers 401 without its token)
  local probe='import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass'
  for _ in $(seq 1 300); do
    python -c "$probe" "$1" 2> /dev/null && return 0
    sleep 1
  done
  echo "workstation: $2 did not come up at $1; see $3" >&2
  exit 1
}

start() {
  mkdir -p "$STATE/logs" "$STATE/mlartifacts" "$STATE/runs" "$STATE/cache" "$RAY_TEMP_DIR"
  if alive "$STATE/mlflow.pid" || ray_pids > /dev/null; then
    echo "workstation: already running (state $STATE); run '$0 stop' first" >&2
    exit 1
  fi
  # setsid: the server leads its own process group, so stop reaches the uvicorn worker it forks.
  setsid nohup "$BIN/mlflow" server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "sqlite:///$STATE/mlflow.db" --artifacts-destination "$STATE/mlartifacts" \
    > "$STATE/logs/mlflow.log" 2>&1 &
  echo $! > "$STATE/mlflow.pid"
  wait_for "http://127.0.0.1:$MLFLOW_PORT/health" "mlflow server" "$STATE/logs/mlflow.log"

  # The head's own --temp-dir marks every process of this Ray instance (gcs, raylet, dashboard, workers), so stop
  # reaches exactly them; a plain `ray stop` would stop every Ray instance on the machine.
  MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT" ACTREC_STORAGE="$STATE/runs" ACTREC_CACHE="$STATE/cache" \
    RAY_TRAIN_V2_ENABLED=1 "$BIN/ray" start --head --port "$RAY_PORT" --num-cpus "$NUM_CPUS" \
    --dashboard-host 127.0.0.1 --dashboard-port "$DASHBOARD_PORT" --temp-dir "$RAY_TEMP_DIR" \
    --disable-usage-stats > "$STATE/logs/ray.log" 2>&1 ||
    { echo "workstation: ray start failed; see $STATE/logs/ray.log" >&2; exit 1; }
  wait_for "http://127.0.0.1:$DASHBOARD_PORT/api/version" "Ray head" "$STATE/logs/ray.log"
  echo "workstation: Ray head 127.0.0.1:$RAY_PORT, jobs http://127.0.0.1:$DASHBOARD_PORT," \
    "MLflow http://127.0.0.1:$MLFLOW_PORT (state $STATE)"
}

stop_pid() {  # stop_pid PIDFILE NAME
  if alive "$1"; then
    local pid
    pid=$(cat "$1")
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2> /dev/null || break; sleep 1; done
    # Whatever of its process group outlived it.
    kill -TERM -- "-$pid" 2> /dev/null || true
    sleep 1
    kill -KILL -- "-$pid" 2> /dev/null || true
    echo "workstation: stopped $2"
  fi
  rm -f "$1"
}

stop() {
  if ray_pids > /dev/null; then
    pkill -TERM -f -- "$RAY_TEMP_DIR/" || true
    for _ in $(seq 1 30); do ray_pids > /dev/null || break; sleep 1; done
    pkill -KILL -f -- "$RAY_TEMP_DIR/" || true
    echo "workstation: stopped Ray head"
  fi
  stop_pid "$STATE/mlflow.pid" "mlflow server"
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
