#!/usr/bin/env bash
# The local stack: moto's server standing in for S3 and Firehose, and `cargo lambda watch` serving
# the ingest function through the real Lambda runtime path.
#   scripts/stack.sh up     start what is not running yet and wait until it answers
#   scripts/stack.sh down   stop both
# The function is rebuilt on code changes only with DRIFTLESS_RELOAD=1 (`make dev`): tests and the
# demo want the binary they started with, not a rebuild each time a file in the tree is touched.
# Logs and pids live in $DRIFTLESS_STATE, outside the workspace: the watcher rebuilds on any change
# inside it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${DRIFTLESS_STATE:-/tmp/driftless-local}
moto_port=${MOTO_PORT:-4566}
lambda_port=${LAMBDA_PORT:-9000}
venv=$root/.venv
mkdir -p "$state"

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:$moto_port}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}
export PATH=$venv/bin:$PATH

ingest_url=http://127.0.0.1:$lambda_port/lambda-url/ingest/v1/batch

# The source keys the local ingest function takes (docs/operations.md, "Source keys"); the Makefile
# exports the same names and defaults to the tests. The web key is the example shop's (`make dev`,
# SHOP_PORT), the e2e key the browser tests', whose pages listen on a free port each run (so it
# names no origins), the server key that of the Python client, `driftless send` and the e2e tests;
# the retired key is disabled, for the tests of a disabled key. The web key also lists the origin of
# the Lambda event fixtures (tests/fixtures/events), whose page is on https://shop.example.
shop_port=${SHOP_PORT:-5173}
web_key=${DRIFTLESS_WEB_KEY:-dk_local_web}
e2e_key=${DRIFTLESS_E2E_KEY:-dk_local_e2e}
server_key=${DRIFTLESS_KEY:-dk_local_server}
# A second key of the same source: what a rotation looks like while both are valid.
server_key_next=${DRIFTLESS_KEY_NEXT:-dk_local_server_next}
retired_key=${DRIFTLESS_RETIRED_KEY:-dk_local_retired}
export DRIFTLESS_SOURCE_KEYS="[
  {\"key\":\"$web_key\",\"source\":\"web\",\"origins\":[\"http://127.0.0.1:$shop_port\",\"http://localhost:$shop_port\",\"https://shop.example\"]},
  {\"key\":\"$e2e_key\",\"source\":\"e2e\"},
  {\"key\":\"$server_key\",\"source\":\"server\"},
  {\"key\":\"$server_key_next\",\"source\":\"server\"},
  {\"key\":\"$retired_key\",\"source\":\"retired\",\"enabled\":false}
]"
# The test GeoIP database (tests/fixtures/geo), rebuilt on every start; tests pose as an address of
# it through the header a CloudFront front would set (template.yaml does the same behind CloudFront).
export DRIFTLESS_GEOIP_DATABASE=$state/geo/test-city.mmdb
export DRIFTLESS_CLIENT_IP_HEADER=cloudfront-viewer-address

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  local name=$1 port=$2 pidfile=$state/$1.pid
  if [[ -f $pidfile ]]; then
    kill -- "-$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  # By pattern too: a stack started by an earlier checkout or a lost pid file still goes.
  [[ $name == moto ]] && pkill -f "moto_server -H 127.0.0.1 -p $port" 2>/dev/null || true
  if [[ $name == ingest ]]; then
    # The watcher starts the function in a session of its own, so the group kill misses it.
    pkill -f "cargo-lambda lambda watch .*--invoke-port $port" 2>/dev/null || true
    # Only this checkout's binaries: another checkout's stack may run beside this one. The watcher
    # starts them as a relative `target/debug/ingest` in the checkout, so the command line alone
    # would match every checkout's: the working directory tells them apart.
    for pid in $(pgrep -f "^($root/)?target/(debug|release)/(ingest|compact)$" || true); do
      [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$root" ]] && kill "$pid" 2>/dev/null || true
    done
  fi
  for _ in $(seq 1 50); do
    listening "$port" || { echo "stopped $name"; return 0; }
    sleep 0.1
  done
  echo "$name still listens on $port" >&2
  return 1
}

wait_for_ingest() {
  local body='{"sent_at":"2026-01-01T00:00:00.000Z","events":[]}'
  # The first start compiles the function, which takes minutes on a cold cache.
  for _ in $(seq 1 900); do
    if curl -fsS -o /dev/null -X POST -H 'content-type: application/json' -H "x-driftless-key: $server_key" \
      -d "$body" "$ingest_url" 2>/dev/null; then
      echo "ingest ready at $ingest_url"
      return 0
    fi
    if ! kill -0 "$(cat "$state/ingest.pid")" 2>/dev/null; then
      echo "cargo lambda watch exited; its log:" >&2
      tail -50 "$state/ingest.log" >&2
      return 1
    fi
    sleep 1
  done
  echo "ingest did not answer at $ingest_url; see $state/ingest.log" >&2
  return 1
}

case ${1:-up} in
  up)
    if ! listening "$moto_port"; then
      setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" </dev/null >"$state/moto.log" 2>&1 &
      echo $! >"$state/moto.pid"
    fi
    "$venv/bin/python" "$root/scripts/local_stack.py"
    "$venv/bin/python" "$root/tests/fixtures/geo/build_mmdb.py" "$DRIFTLESS_GEOIP_DATABASE" >/dev/null
    if ! listening "$lambda_port"; then
      reload=--ignore-changes release=
      [[ ${DRIFTLESS_RELOAD:-0} == 1 ]] && reload=
      # The benchmark measures the release build's memory.
      [[ ${DRIFTLESS_RELEASE:-0} == 1 ]] && release=--release
      # exec, so the recorded pid is the watcher's own; every descriptor goes to the log, so the
      # caller's pipes (make's, CI's) are not held open by the services.
      (cd "$root" && exec setsid "$venv/bin/cargo-lambda" lambda watch --invoke-address 127.0.0.1 \
        --invoke-port "$lambda_port" --disable-cors $reload $release \
        </dev/null >"$state/ingest.log" 2>&1) &
      echo $! >"$state/ingest.pid"
    fi
    wait_for_ingest
    ;;
  down)
    stop ingest "$lambda_port"
    stop moto "$moto_port"
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
