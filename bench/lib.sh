# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by bench/*/run.sh: the load average before and after a benchmark, and a flag when it was
# above 0.3 per core before. The machines these numbers come from are shared; a run taken while other
# work used the cores measures that work too, and a reader must be able to tell (issue 13).
#   source "$ROOT/bench/lib.sh"
#   bench_load_begin      # after any build or data generation, right before the timed work
#   ...
#   bench_load_end        # prints before/after and the flag; returns 0 either way

BENCH_LOAD_LIMIT_PER_CORE=0.3

# 1-minute load average (the first field of /proc/loadavg).
bench_load1() { cut -d' ' -f1 /proc/loadavg; }

# "yes" when a 1-minute load average is above BENCH_LOAD_LIMIT_PER_CORE x nproc.
bench_load_high() {
  awk -v l="$1" -v c="$(nproc)" -v k="$BENCH_LOAD_LIMIT_PER_CORE" 'BEGIN { print (l > k * c) ? "yes" : "no" }'
}

bench_load_begin() {
  BENCH_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "load average before (1/5/15 min): $BENCH_LOAD_BEFORE on $(nproc) cores"
}

# Prints the line "load average before ..., after ...", then, when the 1-minute value before was
# above the limit, a line starting "FLAG:" so that a results file shows it. Only "before" decides:
# the 1-minute average after a benchmark that used every core counts the benchmark itself (about
# nproc), so it would flag every run; "after" is printed for a reader to see it settle.
bench_load_end() {
  local after before1
  after=$(cut -d' ' -f1-3 /proc/loadavg)
  before1=${BENCH_LOAD_BEFORE%% *}
  echo "load average (1/5/15 min) before: ${BENCH_LOAD_BEFORE:-?}, after: $after; $(nproc) cores"
  if [[ $(bench_load_high "${before1:-0}") == yes ]]; then
    echo "FLAG: load above $BENCH_LOAD_LIMIT_PER_CORE per core ($(awk -v c="$(nproc)" \
      -v k="$BENCH_LOAD_LIMIT_PER_CORE" 'BEGIN { print k * c }') on $(nproc) cores) before the run:" \
      "other work shared the machine, the rates are lower bounds"
  fi
  return 0
}

# The median of the numbers on stdin, one per line. sort -g, not -n: rates printed as "8.809e+04"
# must sort as numbers.
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Frames/s of the last `stemflow run` series line in the log on stdin: frames processed over the
# series' seconds (series start to results written).
bench_series_fps() {
  grep ' processed, ' | tail -1 | sed -E 's/.* ([0-9]+) processed, .*; ([0-9.]+) s, .*/\1 \2/' |
    awk '{printf "%.6g", $1 / $2}'
}
