# Shared by scripts/*: installs what is missing, from PyPI and npm only, into the project.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
PY="$VENV/bin/python"
TEMPLATE="$ROOT/infra/cdk.out/Livepay.template.json"
# The emulator accepts any credentials; real ones must never be needed locally. A deploy
# (LIVEPAY_REAL_AWS=1, scripts/deploy) uses the caller's own region and credentials instead.
if [[ -z ${LIVEPAY_REAL_AWS:-} ]]; then
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
fi
export CDK_DISABLE_CLI_TELEMETRY=true

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_venv() {
  local req="$ROOT/scripts/local/requirements.txt" stamp="$VENV/.requirements"
  if [ -x "$PY" ] && cmp -s "$req" "$stamp"; then return; fi
  log "installing the local stack's Python tools into .local/venv"
  mkdir -p "$LOCAL"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

ensure_infra() {
  local lock="$ROOT/infra/package-lock.json" stamp="$ROOT/infra/node_modules/.livepay-lock"
  if cmp -s "$lock" "$stamp"; then return; fi
  log "installing the CDK app's packages (npm ci)"
  (cd "$ROOT/infra" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
}

ensure_stripe_tools() { # Stripe's own npm library: signs the tests' and the demo's Stripe events
  local lock="$ROOT/tests/stripe/package-lock.json" stamp="$ROOT/tests/stripe/node_modules/.livepay-lock"
  if cmp -s "$lock" "$stamp"; then return; fi
  log "installing Stripe's library for signing test events (npm ci in tests/stripe)"
  (cd "$ROOT/tests/stripe" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
}

synth() {
  ensure_infra
  log "cdk synth (offline)"
  (cd "$ROOT/infra" && npx cdk synth --quiet --no-notices >/dev/null 2>"$LOCAL/synth.log") || { cat "$LOCAL/synth.log" >&2; return 1; }
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url, seconds
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$url"; do
    [ $SECONDS -lt "$deadline" ] || { echo "timed out waiting for $url" >&2; return 1; }
    sleep 0.2
  done
}

DYNOXIDE_VERSION=1.2.1
DYNOXIDE="$LOCAL/dynoxide/node_modules/@dynoxide/linux-x64/dynoxide"

ensure_dynoxide() { # the second DynamoDB engine: a prebuilt binary inside its npm package
  if [ -x "$DYNOXIDE" ] && grep -q "\"version\": \"$DYNOXIDE_VERSION\"" "$(dirname "$DYNOXIDE")/package.json"; then return; fi
  log "installing dynoxide $DYNOXIDE_VERSION (npm @dynoxide/linux-x64)"
  mkdir -p "$LOCAL/dynoxide"
  (cd "$LOCAL/dynoxide" && npm install --no-audit --no-fund --no-save --loglevel=error \
    "@dynoxide/linux-x64@$DYNOXIDE_VERSION" >/dev/null)
}

# Starts the local AWS in the background, each process's pid in <dir>/<name>.pid:
# - moto (SQS; DynamoDB too with LIVEPAY_DYNAMODB_ENGINE=moto, the default);
# - dynoxide with LIVEPAY_DYNAMODB_ENGINE=dynoxide;
# - DynamoDB's transaction-conflict rules in front of the engine (livepay_local conflicts), unless
#   LIVEPAY_DYNAMODB_CONFLICTS=off; LIVEPAY_DYNAMODB_TX_LATENCY_MS (default 15) is the least time
#   a transaction takes, its items held all the while (DynamoDB's transaction latency).
# Exports AWS_ENDPOINT_URL (moto) and AWS_ENDPOINT_URL_DYNAMODB, which the AWS SDKs prefer for
# DynamoDB.
start_emulators() { # dir, [moto port], [dynamodb port]
  local dir=$1 moto_port=${2:-} ddb_port=${3:-} engine=${LIVEPAY_DYNAMODB_ENGINE:-moto} backend
  local conflicts=${LIVEPAY_DYNAMODB_CONFLICTS:-on}
  case $engine in moto|dynoxide) ;; *) echo "LIVEPAY_DYNAMODB_ENGINE is moto or dynoxide, not '$engine'" >&2; return 1 ;; esac
  case $conflicts in on|off) ;; *) echo "LIVEPAY_DYNAMODB_CONFLICTS is on or off, not '$conflicts'" >&2; return 1 ;; esac
  [ -n "$moto_port" ] || moto_port=$(free_port)
  [ -n "$ddb_port" ] || ddb_port=$(free_port)
  mkdir -p "$dir"
  "$PY" "$ROOT/scripts/local/moto_server.py" 127.0.0.1 "$moto_port" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  wait_http "$AWS_ENDPOINT_URL/moto-api/" 60
  backend=$AWS_ENDPOINT_URL
  if [ "$engine" = dynoxide ]; then
    ensure_dynoxide
    local port; port=$(free_port)
    "$DYNOXIDE" serve --host 127.0.0.1 --port "$port" >"$dir/dynoxide.log" 2>&1 &
    echo $! >"$dir/dynoxide.pid"
    backend="http://127.0.0.1:$port"
    wait_http "$backend" 30
  fi
  if [ "$conflicts" = on ]; then
    # moto serves one request at a time: a request waiting for it holds no item yet.
    local slots=0; [ "$engine" = moto ] && slots=1
    (cd "$ROOT/scripts/local" && exec "$PY" -m livepay_local conflicts --backend "$backend" --port "$ddb_port" \
      --latency-ms "${LIVEPAY_DYNAMODB_TX_LATENCY_MS:-15}" --engine-slots "$slots") >"$dir/conflicts.log" 2>&1 &
    echo $! >"$dir/conflicts.pid"
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
    wait_http "$AWS_ENDPOINT_URL_DYNAMODB/livepay/conflicts" 30
  else
    export AWS_ENDPOINT_URL_DYNAMODB=$backend
  fi
  log "DynamoDB: $engine, conflict rules $conflicts ($AWS_ENDPOINT_URL_DYNAMODB); SQS: moto ($AWS_ENDPOINT_URL)"
}

stop_emulators() { # dir
  local name
  for name in conflicts dynoxide moto; do
    if [ -f "$1/$name.pid" ]; then kill "$(cat "$1/$name.pid")" 2>/dev/null || true; rm -f "$1/$name.pid"; fi
  done
}

functions_env() { # prefix, webhook secret, [Stripe endpoint secret, [provision options]]: creates the template's resources in moto, prints the functions' environment
  local prefix=$1 secret=$2 stripe_secret=${3:-whsec_local_0123456789}
  shift 2; [ $# -eq 0 ] || shift
  (cd "$ROOT/scripts/local" && "$PY" -m livepay_local provision --template "$TEMPLATE" --endpoint "$AWS_ENDPOINT_URL" \
    --dynamodb-endpoint "$AWS_ENDPOINT_URL_DYNAMODB" --region "$AWS_REGION" --prefix "$prefix" --webhook-secret "$secret" \
    --stripe-webhook-secret "$stripe_secret" "$@")
  printf 'AWS_ENDPOINT_URL=%s\nAWS_ENDPOINT_URL_DYNAMODB=%s\nAWS_REGION=%s\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\n' \
    "$AWS_ENDPOINT_URL" "$AWS_ENDPOINT_URL_DYNAMODB" "$AWS_REGION"
}
