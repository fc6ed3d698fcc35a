#!/usr/bin/env bash
# UI scenario benchmarks (issue 5): the release build of the real window,
# under Xvfb, on a generated archive of 1,000,000 messages in 200
# conversations (benches/ui_scenarios.rs; figures and method in
# benches/README.md, "UI scenario benchmarks (issue 5)").
#
#   scripts/bench-ui.sh            # Sotto, then Dino if dino-im is installed
#   scripts/bench-ui.sh sotto      # Sotto only
#   scripts/bench-ui.sh dino       # the Sotto/Dino comparison only
#   SOTTO_BENCH_RUNS=3 SOTTO_BENCH_MESSAGES=100000 scripts/bench-ui.sh
#   scripts/bench-ui.sh compare DIR_BEFORE DIR_AFTER   # two builds, one run
#
# The archives are cached under target/tmp/ui-bench (made once, ~1 GB for
# 1M); every run works on a fresh copy, because opening a chat writes to
# the archive (read markers). Dino runs in a network namespace with only
# loopback (`unshare -n`, needs root), so it cannot reach any server.
set -euo pipefail
cd "$(dirname "$0")/.."

# Internal: `--probe-runs NAME REGION COMMAND...` launches COMMAND $RUNS
# times under benches/x11_probe.py (one JSON line each, "probe NAME {...}");
# `--home DIR COMMAND...` runs COMMAND with DIR as its home and XDG dirs.
# (Subcommands, not shell functions: xvfb-run and dbus-run-session drop
# exported functions.)
if [ "${1:-}" = --home ]; then
  export HOME=$2 XDG_DATA_HOME=$2/data XDG_CONFIG_HOME=$2/config XDG_CACHE_HOME=$2/cache
  shift 2
  exec "$@"
fi
if [ "${1:-}" = --probe-runs ]; then
  name=$2 region=$3
  shift 3
  echo "load average before $name: $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in $(seq 1 "${SOTTO_BENCH_RUNS:-5}"); do
    shot=()
    [ "$i" = 1 ] && [ -n "${SHOTS:-}" ] && shot=(--screenshot "$SHOTS/probe-$name.png")
    printf 'probe %s ' "$name"
    python3 benches/x11_probe.py --region "$region" --settle 1 "${shot[@]}" -- "$@" 2>/dev/null ||
      echo '{}'
    sleep 0.5
  done
  exit 0
fi

what=${1:-all}
RUNS=${SOTTO_BENCH_RUNS:-5}
MESSAGES=${SOTTO_BENCH_MESSAGES:-1000000}
XVFB_ARGS="-screen 0 1600x1200x24 -br"
export GTK_A11Y=none GSK_RENDERER=cairo
tmp=$PWD/target/tmp/ui-bench
say() { printf '\n== %s\n' "$*"; }

say "machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "memory: $(free -g | awk '/Mem:/ {print $2 " GB"}'), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "gtk: $(pkg-config --modversion gtk4 2>/dev/null), libadwaita: $(pkg-config --modversion libadwaita-1 2>/dev/null)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# `compare BEFORE AFTER`: the same measures for two builds in one run,
# alternating, each on a fresh copy of the cached archive (which must
# exist: run the script once first). BEFORE and AFTER are directories
# each holding a `sotto` and a `ui_scenarios` copied from one tree's
# target/release and bench build. SOTTO_BENCH_STEPS picks the measures
# (default "store launch scenario"); SOTTO_BENCH_RUNS the scenario
# processes (launches are always five).
if [ "$what" = compare ]; then
  before=${2:?compare BEFORE AFTER}
  after=${3:?compare BEFORE AFTER}
  big=$tmp/archive-$MESSAGES
  [ -d "$big" ] || { echo "no archive in $big: run scripts/bench-ui.sh once" >&2; exit 1; }
  xrun() { scripts/with-keyring.sh xvfb-run -a -s "$XVFB_ARGS" "$@"; }
  for step in ${SOTTO_BENCH_STEPS:-store launch scenario}; do
    for dir in "$before" "$after"; do
      label=$(basename "$dir")
      say "$step, $label (load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%T))"
      rm -rf "$tmp/run/cmp" && mkdir -p "$tmp/run" && cp -a "$big" "$tmp/run/cmp"
      case $step in
        store) scripts/with-keyring.sh "$dir/ui_scenarios" store-search \
          --profile "$tmp/run/cmp/profile" --runs 3 ;;
        launch) xrun "$dir/ui_scenarios" launch --app "$dir/sotto" \
          --profile "$tmp/run/cmp/profile" --runs 5 --label "launch-1m-$label" ;;
        scenario) xrun "$dir/ui_scenarios" scenario \
          --profile "$tmp/run/cmp/profile" --runs "$RUNS" ;;
        *) echo "unknown step $step" >&2; exit 1 ;;
      esac
    done
  done
  rm -rf "$tmp/run/cmp"
  exit 0
fi

say "build (release)"
nice cargo build --release --bin sotto
bench=$(nice cargo bench --bench ui_scenarios --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "ui_scenarios" and m.get("executable"):
        print(m["executable"])')
[ -x "$bench" ] || { echo "cannot find the ui_scenarios bench executable" >&2; exit 1; }
app=target/release/sotto

say "archives"
scripts/with-keyring.sh nice "$bench" generate --messages "$MESSAGES"
scripts/with-keyring.sh "$bench" generate --messages 0 --conversations 0
big=$tmp/archive-$MESSAGES
rm -rf "$tmp/run" && mkdir -p "$tmp/run"
cp -a "$big" "$tmp/run/big"
cp -a "$tmp/archive-0" "$tmp/run/empty"

xrun() { scripts/with-keyring.sh xvfb-run -a -s "$XVFB_ARGS" "$@"; }

if [ "$what" = all ] || [ "$what" = sotto ]; then
  say "launch to the first frame with the conversation list ($MESSAGES messages)"
  xrun "$bench" launch --app "$app" --profile "$tmp/run/big/profile" --runs "$RUNS" --label launch-1m
  say "launch to the first-run page (no account)"
  xrun "$bench" launch --app "$app" --profile "$tmp/run/empty/profile" --runs "$RUNS" --label launch-empty
  say "open, search, memory (in-process scenario)"
  xrun "$bench" scenario --profile "$tmp/run/big/profile" --runs "$RUNS" --screenshots
fi

if [ "$what" = all ] || [ "$what" = dino ]; then
  if ! command -v dino-im >/dev/null; then
    say "dino-im is not installed: no comparison (apt-get install dino-im)"
    exit 0
  fi
  if ! unshare -n true 2>/dev/null; then
    say "cannot make a network namespace (unshare -n needs root): no Dino comparison"
    exit 0
  fi
  say "Sotto and Dino from the outside (x11_probe.py, loopback-only network namespace)"
  echo "dino-im $(dpkg-query -W -f='${Version}' dino-im 2>/dev/null)"
  # Where each app draws the names of its first conversation rows (and, with
  # no account, the heading of its first-run page); see the README.
  SOTTO_LIST=${SOTTO_LIST:-70,115,180,65}
  DINO_LIST=${DINO_LIST:-60,60,200,30}
  SOTTO_SETUP=${SOTTO_SETUP:-330,210,300,45}
  DINO_SETUP=${DINO_SETUP:-440,400,340,45}
  self=scripts/bench-ui.sh
  netns() { unshare -n bash -c 'ip link set lo up && exec "$@"' bash "$@"; }
  # Dino makes its database (schema, migrations) at its first start.
  rm -rf "$tmp/run/dino-empty" && mkdir -p "$tmp/run/dino-empty"
  SOTTO_BENCH_RUNS=1 netns xvfb-run -a -s "$XVFB_ARGS" dbus-run-session -- \
    $self --probe-runs dino-first-start "$DINO_SETUP" $self --home "$tmp/run/dino-empty" dino-im \
    >/dev/null 2>&1 || true
  [ -f "$tmp/run/dino-empty/data/dino/dino.db" ] || { echo "Dino made no database" >&2; exit 1; }
  dino_big=$tmp/dino-$MESSAGES
  if [ ! -f "$dino_big/made-from" ] || ! cmp -s "$dino_big/made-from" "$big/meta.json"; then
    rm -rf "$dino_big" && cp -a "$tmp/run/dino-empty" "$dino_big"
    nice "$bench" dino-archive --meta "$big/meta.json" --db "$dino_big/data/dino/dino.db"
    cp "$big/meta.json" "$dino_big/made-from"
  fi
  cp -a "$dino_big" "$tmp/run/dino-big"
  rm -rf "$tmp/run/probe-big" "$tmp/run/probe-empty"
  cp -a "$big" "$tmp/run/probe-big"
  cp -a "$tmp/archive-0" "$tmp/run/probe-empty"
  export SHOTS=$tmp/../screenshots SOTTO_BENCH_RUNS=$RUNS
  mkdir -p "$SHOTS"
  {
  netns xvfb-run -a -s "$XVFB_ARGS" dbus-run-session -- bash -c "
    $self --probe-runs dino-empty $DINO_SETUP $self --home $tmp/run/dino-empty dino-im
    $self --probe-runs dino-1m $DINO_LIST $self --home $tmp/run/dino-big dino-im
  " 2>&1 | grep -v 'fd limit'
  netns scripts/with-keyring.sh bash -c "
    $bench install-key --profile $tmp/run/probe-big/profile
    $bench install-key --profile $tmp/run/probe-empty/profile
    xvfb-run -a -s '$XVFB_ARGS' bash -c '
      $self --probe-runs sotto-empty $SOTTO_SETUP $app --data-dir $tmp/run/probe-empty/profile
      $self --probe-runs sotto-1m $SOTTO_LIST $app --data-dir $tmp/run/probe-big/profile
    '
  " 2>&1 | grep -v 'fd limit'
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$tmp/run/probe.log"
  python3 - "$tmp/run/probe.log" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if line.startswith("probe "):
        _, name, text = line.split(" ", 2)
        runs.setdefault(name, []).append(json.loads(text))
print("\nfrom the outside (x11_probe.py), medians; ms from spawn, RSS 1 s later")
print("| app, profile | first paint | content shown | RSS (MiB) | n |")
print("| --- | ---: | ---: | ---: | ---: |")
med = lambda xs: statistics.median(xs) if xs else float("nan")
for name, rs in runs.items():
    first = [r["first_change_ms"] for r in rs if r.get("first_change_ms")]
    content = [r["content_ms"] for r in rs if r.get("content_ms")]
    rss = [r["rss_kib"] / 1024 for r in rs if r.get("rss_kib")]
    print(f"| {name} | {med(first):.0f} | {med(content):.0f} | {med(rss):.0f} | {len(content)} |")
PY
fi
