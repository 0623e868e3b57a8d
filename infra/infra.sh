#!/usr/bin/env bash
# tradewatch local infrastructure: Kafka (KRaft, single node), Redis, ClickHouse and Prometheus
# as plain background processes of the current user (no Docker, no system services).
#
#   infra/infra.sh up      [kafka|redis|clickhouse|prometheus ...]   start (idempotent), wait until healthy
#   infra/infra.sh down    [--purge] [component ...]      stop by pid (data stays unless --purge)
#   infra/infra.sh status  [component ...]                one line per component (exit 3 if any is down)
#   infra/infra.sh restart [component ...]
#   infra/infra.sh purge   [component ...]                down + delete the data
#   infra/infra.sh tools   kafka|redis|clickhouse|prometheus|browser   install what they need (apt), start nothing
#   infra/infra.sh kafka-tool <main class> [args]         run a Kafka CLI class with the cached jars, e.g.
#       infra/infra.sh kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Environment (the same variables the services read):
#   KAFKA_BROKERS          default 127.0.0.1:9092 (port of the first entry is used)
#   KAFKA_CONTROLLER_PORT  default 9093
#   KAFKA_CLUSTER_SIZE     1 (default) or 3: three brokers, each also a controller (a quorum of three),
#                          components kafka-1..kafka-3; node i listens on KAFKA_BROKERS' port + 2(i-1)
#                          and its controller on KAFKA_CONTROLLER_PORT + 2(i-1) (9092/9093, 9094/9095,
#                          9096/9097); internal topics replicated 3 times, min.insync.replicas=2
#   REDIS_URL              default redis://127.0.0.1:6379
#   CLICKHOUSE_URL         default http://127.0.0.1:8123
#   CLICKHOUSE_TCP_PORT    default 9000
#   PROMETHEUS_PORT        default 9090 (Debian's prometheus; scrape targets in <data>/prometheus/targets/*.json)
#   PROMETHEUS_SCRAPE_INTERVAL  default 5s
#   TRADEWATCH_DATA_DIR    default <repo>/.data
#   TRADEWATCH_CACHE_DIR   default ~/.cache/tradewatch (Kafka jars, outside git)
#   TRADEWATCH_INFRA_TIMEOUT  health-check deadline per component, seconds (default 90)
#   KAFKA_HEAP_OPTS        default "-Xmx1g -Xms256m"
set -euo pipefail

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$INFRA_DIR/.." && pwd -P)
DATA_DIR=${TRADEWATCH_DATA_DIR:-$REPO_ROOT/.data}
[[ $DATA_DIR == /* ]] || DATA_DIR=$PWD/$DATA_DIR
CACHE_DIR=${TRADEWATCH_CACHE_DIR:-${HOME:-/root}/.cache/tradewatch}
[[ $CACHE_DIR == /* ]] || CACHE_DIR=$PWD/$CACHE_DIR
TIMEOUT=${TRADEWATCH_INFRA_TIMEOUT:-90}
STOP_TIMEOUT=20
RUN_DIR=$DATA_DIR/run
LOG_DIR=$DATA_DIR/logs
KAFKA_CLUSTER_SIZE=${KAFKA_CLUSTER_SIZE:-1}
[[ $KAFKA_CLUSTER_SIZE == 1 || $KAFKA_CLUSTER_SIZE == 3 ]] ||
  { echo "infra: KAFKA_CLUSTER_SIZE=$KAFKA_CLUSTER_SIZE: expected 1 or 3" >&2; exit 1; }
if ((KAFKA_CLUSTER_SIZE == 1)); then KAFKA_NODES=(kafka); else KAFKA_NODES=(kafka-1 kafka-2 kafka-3); fi
ALL=("${KAFKA_NODES[@]}" redis clickhouse prometheus)
KAFKA_POM=$INFRA_DIR/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n1)
export PATH=$PATH:/usr/sbin:/sbin # clickhouse-server lives in /usr/sbin on Debian

die() { echo "infra: $*" >&2; exit 1; }
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "${t:-$(($(date +%s) * 1000000))}"; }
since() { local d=$((($(now_us) - $1) / 100000)); echo "$((d / 10)).$((d % 10))s"; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- addresses

is_loopback() { [[ $1 == 127.* || $1 == localhost ]]; }
check_port() { [[ $2 =~ ^[0-9]+$ ]] && (($2 > 0 && $2 < 65536)) || die "$1: '$2' is not a valid port"; }

parse_env() {
  local first=${KAFKA_BROKERS:-127.0.0.1:9092}
  first=${first%%,*}
  first=${first#*://}
  KAFKA_HOST=${first%:*}
  KAFKA_PORT=${first##*:}
  [[ $first == *:* ]] || KAFKA_PORT=9092
  check_port KAFKA_BROKERS "$KAFKA_PORT"
  is_loopback "$KAFKA_HOST" || die "KAFKA_BROKERS=$KAFKA_BROKERS is not a loopback address; infra.sh only runs local services (use 127.0.0.1)"
  KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
  check_port KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"

  local url=${REDIS_URL:-redis://127.0.0.1:6379}
  [[ $url =~ ^redis://(([^:@/]*)(:([^@/]*))?@)?([^:/]+)(:([0-9]+))?(/.*)?$ ]] ||
    die "REDIS_URL=$url: expected redis://127.0.0.1:<port>[/db] (no TLS for the local server)"
  REDIS_PASSWORD=${BASH_REMATCH[4]}
  REDIS_HOST=${BASH_REMATCH[5]}
  REDIS_PORT=${BASH_REMATCH[7]:-6379}
  check_port REDIS_URL "$REDIS_PORT"
  is_loopback "$REDIS_HOST" || die "REDIS_URL=$url is not a loopback address; infra.sh only runs local services"

  url=${CLICKHOUSE_URL:-http://127.0.0.1:8123}
  [[ $url =~ ^http://(([^:@/]*)(:([^@/]*))?@)?([^:/]+)(:([0-9]+))?(/.*)?$ ]] ||
    die "CLICKHOUSE_URL=$url: expected http://127.0.0.1:<port> (no TLS for the local server)"
  CH_HOST=${BASH_REMATCH[5]}
  CH_HTTP_PORT=${BASH_REMATCH[7]:-8123}
  check_port CLICKHOUSE_URL "$CH_HTTP_PORT"
  is_loopback "$CH_HOST" || die "CLICKHOUSE_URL=$url is not a loopback address; infra.sh only runs local services"
  CH_TCP_PORT=${CLICKHOUSE_TCP_PORT:-9000}
  check_port CLICKHOUSE_TCP_PORT "$CH_TCP_PORT"
  PROM_PORT=${PROMETHEUS_PORT:-9090}
  check_port PROMETHEUS_PORT "$PROM_PORT"
  PROMETHEUS_SCRAPE_INTERVAL=${PROMETHEUS_SCRAPE_INTERVAL:-5s}
  [[ $PROMETHEUS_SCRAPE_INTERVAL =~ ^[0-9]+(ms|s|m)$ ]] ||
    die "PROMETHEUS_SCRAPE_INTERVAL=$PROMETHEUS_SCRAPE_INTERVAL: expected a duration such as 5s"

  local -A seen=()
  local p i kafka_ports=()
  for ((i = 0; i < KAFKA_CLUSTER_SIZE; i++)); do
    kafka_ports+=("$((KAFKA_PORT + 2 * i)):KAFKA_BROKERS" "$((KAFKA_CONTROLLER_PORT + 2 * i)):KAFKA_CONTROLLER_PORT")
  done
  for p in "${kafka_ports[@]}" "$REDIS_PORT:REDIS_URL" \
    "$CH_HTTP_PORT:CLICKHOUSE_URL" "$CH_TCP_PORT:CLICKHOUSE_TCP_PORT" "$PROM_PORT:PROMETHEUS_PORT"; do
    [[ -z ${seen[${p%%:*}]:-} ]] || die "port ${p%%:*} is configured twice (${seen[${p%%:*}]} and ${p#*:})"
    seen[${p%%:*}]=${p#*:}
  done
}

# A broker's node id (1 for the single node), its listener and its controller port.
node_id() { [[ $1 == kafka ]] && echo 1 || echo "${1#kafka-}"; }
node_port() { echo $((KAFKA_PORT + 2 * ($(node_id "$1") - 1))); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($(node_id "$1") - 1))); }
# What clients put in KAFKA_BROKERS for this cluster.
bootstrap_list() {
  local n out=""
  for n in "${KAFKA_NODES[@]}"; do out+="127.0.0.1:$(node_port "$n"),"; done
  echo "${out%,}"
}

# "port:VARIABLE=hint" for each port a component binds
ports_of() {
  case $1 in
    kafka | kafka-*) echo "$(node_port "$1"):KAFKA_BROKERS=127.0.0.1:<port>" "$(node_controller_port "$1"):KAFKA_CONTROLLER_PORT=<port>" ;;
    redis) echo "$REDIS_PORT:REDIS_URL=redis://127.0.0.1:<port>" ;;
    clickhouse) echo "$CH_HTTP_PORT:CLICKHOUSE_URL=http://127.0.0.1:<port>" "$CH_TCP_PORT:CLICKHOUSE_TCP_PORT=<port>" ;;
    prometheus) echo "$PROM_PORT:PROMETHEUS_PORT=<port>" ;;
  esac
}

address_of() {
  case $1 in
    kafka | kafka-*) echo "127.0.0.1:$(node_port "$1") (controller :$(node_controller_port "$1"))" ;;
    redis) echo "redis://127.0.0.1:$REDIS_PORT" ;;
    clickhouse) echo "http://127.0.0.1:$CH_HTTP_PORT (tcp :$CH_TCP_PORT)" ;;
    prometheus) echo "http://127.0.0.1:$PROM_PORT" ;;
  esac
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# ---------------------------------------------------------------- processes

pid_file() { echo "$RUN_DIR/$1.pid"; }
addr_file() { echo "$RUN_DIR/$1.addr"; } # ports + address the running instance was started with
port_list() { local p out=""; for p in $(ports_of "$1"); do out+="${p%%:*} "; done; echo "${out% }"; }
running_addr() { sed -n 's/^address=//p' "$(addr_file "$1")" 2>/dev/null || true; }
running_ports() { sed -n 's/^ports=//p' "$(addr_file "$1")" 2>/dev/null || true; }
log_file() { echo "$LOG_DIR/$1.log"; }

is_alive() { # running and not a zombie
  local state
  [[ -r /proc/$1/stat ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [[ -n $state && $state != Z ]]
}

is_ours() { # is pid $2 the $1 service this script started (guards against pid reuse)?
  local cmd comm
  cmd=$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null) || return 1
  comm=$(cat "/proc/$2/comm" 2>/dev/null) || return 1
  case $1 in
    kafka | kafka-*) [[ $cmd == *kafka.Kafka*"$DATA_DIR/$1/server.properties"* ]] ;;
    redis) [[ $comm == redis-server* || $cmd == *redis-server* ]] ;;
    clickhouse) [[ $cmd == *clickhouse-server*"$DATA_DIR/clickhouse/config.xml"* ]] ;;
    prometheus) [[ $cmd == *prometheus*"$DATA_DIR/prometheus/prometheus.yml"* ]] ;;
  esac
}

STALE=""
PID=""
# sets PID if the pid file names a live process of ours; removes a stale pid file
find_pid() {
  local f pid
  PID=""
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && is_alive "$pid" && is_ours "$1" "$pid"; then
    PID=$pid
    return 0
  fi
  rm -f "$f" "$(addr_file "$1")"
  STALE=" (stale pid file ${pid:-?} removed)"
  return 1
}

healthy() {
  case $1 in
    kafka | kafka-*)
      local port id
      port=$(node_port "$1")
      id=$(node_id "$1")
      port_open "$port" || return 1
      if have kcat; then
        kcat -L -b "127.0.0.1:$port" -m 2 2>/dev/null | grep -q "broker $id at"
      else
        grep -q 'Kafka Server started' <(tail -n 200 "$(log_file "$1")")
      fi
      ;;
    redis)
      local out
      out=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ${REDIS_PASSWORD:+-a "$REDIS_PASSWORD" --no-auth-warning} ping 2>/dev/null) || return 1
      [[ $out == PONG ]]
      ;;
    clickhouse)
      [[ $(curl -s --max-time 2 "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null) == Ok.* ]]
      ;;
    prometheus)
      curl -sf --max-time 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1
      ;;
  esac
}

show_log_tail() {
  local log
  log=$(log_file "$1")
  echo "----- last 30 lines of $log -----" >&2
  tail -n 30 "$log" >&2 2>/dev/null || true
  if [[ $1 == clickhouse && -s $LOG_DIR/clickhouse.err.log ]]; then
    echo "----- last 10 lines of $LOG_DIR/clickhouse.err.log -----" >&2
    tail -n 10 "$LOG_DIR/clickhouse.err.log" >&2
  fi
  echo "-----" >&2
}

# wait until healthy; 0 ok, 1 timeout, 2 process died
wait_healthy() {
  local name=$1 pid=$2 deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    is_alive "$pid" || return 2
    healthy "$name" && return 0
    sleep 0.3
  done
  healthy "$name"
}

stop_pid() { # SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    is_alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    is_alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

new_log() { # rotate past 50 MB, then write a header
  local log
  log=$(log_file "$1")
  if [[ -f $log ]] && (($(stat -c %s "$log") > 52428800)); then mv -f "$log" "$log.1"; fi
  echo "===== infra.sh: starting $1 at $(date -u +%FT%TZ) =====" >>"$log"
}

render() { # render TEMPLATE OUT VAR... : replace ${VAR} by the value of VAR
  local tpl=$1 out=$2 expr=() v val
  shift 2
  for v in "$@"; do
    val=${!v}
    val=${val//\\/\\\\}
    val=${val//|/\\|}
    val=${val//&/\\&}
    expr+=(-e "s|\${$v}|$val|g")
  done
  sed "${expr[@]}" "$tpl" >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

# ---------------------------------------------------------------- prerequisites

java_major() {
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
  v=${v#1.}
  echo "${v%%[!0-9]*}"
}

kafka_libs_dir() { echo "$CACHE_DIR/kafka-$KAFKA_VERSION/libs"; }
kafka_libs_ok() {
  local marker=$CACHE_DIR/kafka-$KAFKA_VERSION/.complete
  [[ -f $marker && $(cat "$marker") == "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" &&
    -f $(kafka_libs_dir)/kafka_2.13-$KAFKA_VERSION.jar ]]
}

# command:apt-package pairs needed by the given components
needed_tools() {
  local c
  for c in "$@"; do
    case $c in
      kafka | kafka-*)
        echo java:openjdk-17-jre-headless kcat:kcat
        kafka_libs_ok || echo mvn:maven
        ;;
      redis) echo redis-server:redis-server redis-cli:redis-tools ;;
      clickhouse) echo clickhouse-server:clickhouse-server clickhouse-client:clickhouse-client curl:curl ;;
      prometheus) echo prometheus:prometheus promtool:prometheus curl:curl ;;
      # Debian's Chromium, for the fraud desk's browser tests and benchmark (never a downloaded build).
      browser) echo chromium:chromium ;;
    esac
  done
}

ensure_prereqs() {
  local missing=() cmds=() pair
  for pair in $(needed_tools "$@"); do
    have "${pair%%:*}" && continue
    [[ " ${missing[*]} " == *" ${pair#*:} "* ]] || missing+=("${pair#*:}")
    cmds+=("${pair%%:*}")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]]; then
      die "missing ${cmds[*]}; install with: sudo apt-get install -y ${missing[*]}"
    fi
    local t0 guard="" rc=0 apt_log=$LOG_DIR/apt.log
    t0=$(now_us)
    echo "infra: installing ${missing[*]} (apt-get) ..."
    # Debian's redis-server/clickhouse-server postinst would start their system
    # services on our default ports: deny service starts while we install.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
    fi
    {
      DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    } >"$apt_log" 2>&1 || rc=$?
    [[ -z $guard ]] || rm -f /usr/sbin/policy-rc.d
    if ((rc)); then
      tail -n 20 "$apt_log" >&2
      die "apt-get install ${missing[*]} failed (log: $apt_log)"
    fi
    echo "infra: installed ${missing[*]} in $(since "$t0")"
  fi
  if [[ " $* " =~ \ kafka(-[0-9])?\  ]]; then
    local jm
    jm=$(java_major)
    [[ -n $jm ]] && ((jm >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, 'java' is version ${jm:-unknown}; install openjdk-17-jre-headless or put a newer java first in PATH"
  fi
}

# ---------------------------------------------------------------- kafka

fetch_kafka_libs() { # download the pinned jars once into the cache (marker = pom checksum)
  local base=$CACHE_DIR/kafka-$KAFKA_VERSION tmp log
  log=$(log_file kafka)
  mkdir -p "$base"
  exec 9>"$base/.lock"
  flock 9
  if ! kafka_libs_ok; then
    tmp=$(mktemp -d "$base/tmp.XXXXXX")
    echo "infra.sh: fetching Kafka $KAFKA_VERSION jars with maven into $base/libs" >>"$log"
    if ! mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies -DoutputDirectory="$tmp/libs" >>"$log" 2>&1; then
      rm -rf "$tmp"
      exec 9>&-
      return 1
    fi
    rm -rf "$base/libs"
    mv "$tmp/libs" "$base/libs"
    rmdir "$tmp"
    sha256sum "$KAFKA_POM" | cut -d' ' -f1 >"$base/.complete"
    FETCHED=1
  fi
  exec 9>&-
}

start_kafka() {
  local name=${1:-kafka}
  local dir=$DATA_DIR/$name log libs cid
  log=$(log_file "$name")
  FETCHED=""
  local t0
  t0=$(now_us)
  fetch_kafka_libs || { echo "$name: FAILED to fetch Kafka $KAFKA_VERSION jars with maven" >&2; show_log_tail "$name"; return 1; }
  [[ -z $FETCHED ]] || NOTE+=", jars fetched in $(since "$t0")"
  libs=$(kafka_libs_dir)
  mkdir -p "$dir/data"
  local voters="" n
  for n in "${KAFKA_NODES[@]}"; do voters+="$(node_id "$n")@127.0.0.1:$(node_controller_port "$n"),"; done
  local replicas=$KAFKA_CLUSTER_SIZE min_isr=$(((KAFKA_CLUSTER_SIZE + 1) / 2))
  KAFKA_DIR=$dir KAFKA_NODE_ID=$(node_id "$name") KAFKA_NODE_PORT=$(node_port "$name") \
    KAFKA_NODE_CONTROLLER_PORT=$(node_controller_port "$name") KAFKA_QUORUM_VOTERS=${voters%,} \
    KAFKA_REPLICAS=$replicas KAFKA_MIN_ISR=$min_isr \
    render "$INFRA_DIR/kafka/server.properties.template" "$dir/server.properties" \
    KAFKA_NODE_ID KAFKA_NODE_PORT KAFKA_NODE_CONTROLLER_PORT KAFKA_QUORUM_VOTERS KAFKA_REPLICAS KAFKA_MIN_ISR KAFKA_DIR
  local jvm=(java -Dlog4j2.configurationFile="$INFRA_DIR/kafka/log4j2.xml" -Dkafka.logs.dir="$LOG_DIR")
  if [[ ! -f $dir/data/meta.properties ]]; then
    # A base64url UUID, as Kafka makes them: never starting with '-', which the storage tool's
    # argument parser would take for an option. All nodes of a cluster share one.
    local cid_file=$DATA_DIR/kafka-cluster.id
    ((KAFKA_CLUSTER_SIZE > 1)) || cid_file=$dir/cluster.id
    (
      flock 9
      until [[ -s $cid_file && $(head -c 1 "$cid_file") != - ]]; do
        head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$cid_file"
      done
    ) 9>"$DATA_DIR/.cluster-id.lock"
    cid=$(cat "$cid_file")
    if ! "${jvm[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >>"$log" 2>&1; then
      echo "$name: FAILED to format storage in $dir/data" >&2
      show_log_tail "$name"
      return 1
    fi
    NOTE+=", storage formatted"
  fi
  # shellcheck disable=SC2086
  (cd "$dir" && exec setsid "${jvm[@]}" ${KAFKA_HEAP_OPTS:--Xmx1g -Xms256m} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true} \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" </dev/null >>"$log" 2>&1) &
  STARTED_PID=$!
}

# ---------------------------------------------------------------- redis

start_redis() {
  local dir=$DATA_DIR/redis log
  log=$(log_file redis)
  mkdir -p "$dir"
  local args=(--bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --daemonize no --protected-mode no
    --appendonly yes --appendfsync everysec --logfile "" --pidfile "" --save "3600 1 300 100 60 10000")
  [[ -z $REDIS_PASSWORD ]] || args+=(--requirepass "$REDIS_PASSWORD")
  (cd "$dir" && exec setsid redis-server "${args[@]}" </dev/null >>"$log" 2>&1) &
  STARTED_PID=$!
}

# ---------------------------------------------------------------- clickhouse

start_clickhouse() {
  local dir=$DATA_DIR/clickhouse log bin
  log=$(log_file clickhouse)
  mkdir -p "$dir"
  bin=$(command -v clickhouse-server)
  CH_DIR=$dir CH_USERS_XML=$INFRA_DIR/clickhouse/users.xml CH_LOG_FILE=$log CH_ERR_LOG_FILE=$LOG_DIR/clickhouse.err.log \
    render "$INFRA_DIR/clickhouse/config.xml.template" "$dir/config.xml" \
    CH_HTTP_PORT CH_TCP_PORT CH_DIR CH_USERS_XML CH_LOG_FILE CH_ERR_LOG_FILE
  (cd "$dir" && exec setsid "$bin" --config-file="$dir/config.xml" </dev/null >>"$log" 2>&1) &
  STARTED_PID=$!
}

# ---------------------------------------------------------------- prometheus

# The addresses the services listen on by default (scripts/stack.ts rewrites them for what it starts).
write_default_targets() {
  local dir=$1/targets i procs=""
  mkdir -p "$dir"
  for ((i = 1; i <= 2; i++)); do procs+="\"127.0.0.1:$((9100 + i))\","; done
  [[ -f $dir/gateway.json ]] || echo '[{"targets": ["127.0.0.1:8080"], "labels": {"service": "gateway"}}]' >"$dir/gateway.json"
  [[ -f $dir/processor.json ]] || echo "[{\"targets\": [${procs%,}], \"labels\": {\"service\": \"processor\"}}]" >"$dir/processor.json"
  [[ -f $dir/sink.json ]] || echo '[{"targets": ["127.0.0.1:9190"], "labels": {"service": "sink"}}]' >"$dir/sink.json"
  [[ -f $dir/dashboard.json ]] || echo '[{"targets": ["127.0.0.1:8081"], "labels": {"service": "dashboard"}}]' >"$dir/dashboard.json"
}

start_prometheus() {
  local dir=$DATA_DIR/prometheus log
  log=$(log_file prometheus)
  mkdir -p "$dir/data"
  write_default_targets "$dir"
  PROM_DIR=$dir PROMETHEUS_RULES=$INFRA_DIR/prometheus/rules.yml \
    render "$INFRA_DIR/prometheus/prometheus.yml.template" "$dir/prometheus.yml" \
    PROM_DIR PROMETHEUS_RULES PROMETHEUS_SCRAPE_INTERVAL
  (cd "$dir" && exec setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=7d --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
    </dev/null >>"$log" 2>&1) &
  STARTED_PID=$!
}

# ---------------------------------------------------------------- commands

up_one() {
  local name=$1 t0 pid rc=0 p
  t0=$(now_us)
  NOTE=""
  if find_pid "$name"; then
    pid=$PID
    local want have_ports
    want=$(port_list "$name")
    have_ports=$(running_ports "$name")
    if [[ -n $have_ports && $have_ports != "$want" ]]; then
      echo "$name: FAILED: already running (pid $pid) on $(running_addr "$name"), not on the requested ports ($want); run 'infra/infra.sh down $name' first" >&2
      return 1
    fi
    if healthy "$name"; then
      echo "$name: already running (pid $pid) on $(address_of "$name")"
      return 0
    fi
    wait_healthy "$name" "$pid" || rc=$?
    if ((rc == 0)); then
      echo "$name: running (pid $pid) on $(address_of "$name"), healthy after $(since "$t0")"
      return 0
    fi
    echo "$name: FAILED: pid $pid is running but not healthy after ${TIMEOUT}s; run 'infra/infra.sh restart $name'" >&2
    show_log_tail "$name"
    return 1
  fi
  for p in $(ports_of "$name"); do
    if port_open "${p%%:*}"; then
      echo "$name: FAILED: port ${p%%:*} is in use by another process; set ${p#*:} to use another" >&2
      return 1
    fi
  done
  new_log "$name"
  STARTED_PID=""
  "start_${name%%-[0-9]*}" "$name" || return 1
  pid=$STARTED_PID
  echo "$pid" >"$(pid_file "$name")"
  printf 'ports=%s\naddress=%s\n' "$(port_list "$name")" "$(address_of "$name")" >"$(addr_file "$name")"
  wait_healthy "$name" "$pid" || rc=$?
  if ((rc == 0)); then
    echo "$name: started (pid $pid) on $(address_of "$name") in $(since "$t0")${NOTE}${STALE}"
    return 0
  fi
  if ((rc == 2)); then
    echo "$name: FAILED: exited during startup (log: $(log_file "$name"))" >&2
  else
    echo "$name: FAILED: not healthy after ${TIMEOUT}s, stopping it (log: $(log_file "$name"))" >&2
    stop_pid "$pid" || true
  fi
  rm -f "$(pid_file "$name")" "$(addr_file "$name")"
  show_log_tail "$name"
  return 1
}

down_one() {
  local name=$1 t0 pid
  t0=$(now_us)
  if find_pid "$name"; then
    pid=$PID
    if stop_pid "$pid"; then
      rm -f "$(pid_file "$name")" "$(addr_file "$name")"
      echo "$name: stopped (pid $pid) in $(since "$t0")"
    else
      echo "$name: FAILED to stop pid $pid" >&2
      return 1
    fi
  else
    echo "$name: not running${STALE}"
  fi
}

status_one() {
  local name=$1 pid
  if find_pid "$name"; then
    pid=$PID
    local addr want
    addr=$(running_addr "$name")
    want=$(port_list "$name")
    if [[ -n $addr && $(running_ports "$name") != "$want" ]]; then
      printf '%-11s running  pid %-7s %s  (NOT the requested ports %s)\n' "$name:" "$pid" "$addr" "$want"
      return 1
    fi
    if healthy "$name"; then
      printf '%-11s running  pid %-7s %s\n' "$name:" "$pid" "$(address_of "$name")"
    else
      printf '%-11s running  pid %-7s %s  (NOT answering)\n' "$name:" "$pid" "$(address_of "$name")"
      return 1
    fi
  else
    printf '%-11s stopped  %-11s %s\n' "$name:" "" "$(address_of "$name")"
    return 1
  fi
}

parallel() { # run "$1 component" for each component in parallel; fail if any fails
  local fn=$1 c rc=0 pids=()
  shift
  for c in "$@"; do
    "$fn" "$c" &
    pids+=($!)
  done
  for c in "${pids[@]}"; do wait "$c" || rc=1; done
  return $rc
}

purge_data() {
  local c
  for c in "$@"; do
    rm -rf "${DATA_DIR:?}/$c" "$LOG_DIR/$c.log" "$LOG_DIR/$c.log.1"
    [[ $c != clickhouse ]] || rm -f "$LOG_DIR/clickhouse.err.log"*
  done
  # A cluster's id goes with the last of its nodes' data.
  compgen -G "$DATA_DIR/kafka-[0-9]" >/dev/null || rm -f "$DATA_DIR/kafka-cluster.id" "$DATA_DIR/.cluster-id.lock"
  if (($# == ${#ALL[@]})); then
    rm -f "$LOG_DIR/apt.log"
    rmdir "$RUN_DIR" "$LOG_DIR" "$DATA_DIR" 2>/dev/null || true
  fi
  echo "infra: deleted data of $* under $DATA_DIR"
}

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

main() {
  local cmd=${1:-} purge="" comps=() a t0 n
  [[ -n $cmd ]] || usage 2
  shift
  if [[ $cmd == tools ]]; then
    # Installs what the named parts need without starting anything, e.g. `tools browser`.
    (($#)) || die "usage: infra/infra.sh tools kafka|redis|clickhouse|prometheus|browser ..."
    parse_env
    mkdir -p "$LOG_DIR"
    ensure_prereqs "$@"
    return 0
  fi
  if [[ $cmd == kafka-tool ]]; then
    (($#)) || die "usage: infra/infra.sh kafka-tool <main class> [args], e.g. org.apache.kafka.tools.TopicCommand --help"
    parse_env
    mkdir -p "$LOG_DIR"
    ensure_prereqs kafka
    fetch_kafka_libs || die "could not fetch Kafka $KAFKA_VERSION jars (log: $(log_file kafka))"
    exec java -Dlog4j2.configurationFile="$INFRA_DIR/kafka/log4j2-tools.xml" -cp "$(kafka_libs_dir)/*" "$@"
  fi
  for a in "$@"; do
    case $a in
      --purge) purge=1 ;;
      kafka)
        for n in "${KAFKA_NODES[@]}"; do [[ " ${comps[*]} " == *" $n "* ]] || comps+=("$n"); done
        ;;
      kafka-[1-3]) ((KAFKA_CLUSTER_SIZE == 3)) || die "'$a' names a broker of a three-broker cluster; set KAFKA_CLUSTER_SIZE=3"
        [[ " ${comps[*]} " == *" $a "* ]] || comps+=("$a") ;;
      redis | clickhouse | prometheus) [[ " ${comps[*]} " == *" $a "* ]] || comps+=("$a") ;;
      -h | --help) usage ;;
      *) die "unknown component or option '$a' (expected kafka, redis, clickhouse, prometheus, --purge)" ;;
    esac
  done
  ((${#comps[@]})) || comps=("${ALL[@]}")
  parse_env
  case $cmd in
    up | start)
      mkdir -p "$RUN_DIR" "$LOG_DIR"
      t0=$(now_us)
      ensure_prereqs "${comps[@]}"
      parallel up_one "${comps[@]}" || die "up failed after $(since "$t0")"
      ((KAFKA_CLUSTER_SIZE == 1)) || echo "infra: a cluster of $KAFKA_CLUSTER_SIZE brokers; clients use KAFKA_BROKERS=$(bootstrap_list)"
      ;;
    down | stop)
      parallel down_one "${comps[@]}" || die "down failed"
      [[ -z $purge ]] || purge_data "${comps[@]}"
      ;;
    purge)
      parallel down_one "${comps[@]}" || die "down failed, data kept"
      purge_data "${comps[@]}"
      ;;
    restart)
      parallel down_one "${comps[@]}" || die "down failed"
      mkdir -p "$RUN_DIR" "$LOG_DIR"
      ensure_prereqs "${comps[@]}"
      parallel up_one "${comps[@]}" || die "up failed"
      ;;
    status)
      local rc=0 c
      for c in "${comps[@]}"; do status_one "$c" || rc=3; done
      ((KAFKA_CLUSTER_SIZE == 1)) || echo "clients:    KAFKA_BROKERS=$(bootstrap_list)"
      return $rc
      ;;
    -h | --help | help) usage ;;
    *) usage 2 ;;
  esac
}

main "$@"
