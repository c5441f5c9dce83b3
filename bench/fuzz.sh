#!/usr/bin/env bash
# Coverage-guided fuzzing of estafeta's parsers with afl.rs on the stable toolchain.
#
#   bash bench/fuzz.sh                     # every target, 600 s each, one after the other
#   FUZZ_SECONDS=20 bash bench/fuzz.sh     # the short run of .ci/run
#   bash bench/fuzz.sh imap_fetch dsn      # some targets only
#
# Installs cargo-afl (which builds AFL++) when missing, builds the targets of fuzz/, and
# runs one afl-fuzz process at a time (one core) per target, starting from
# fuzz/corpus/<target>/. Every crash or hang found is copied to
# fuzz/regressions/<target>/ (which `cargo test -p estafeta-fuzzing` replays) and makes
# the script exit with status 1. Each run's numbers are printed as a table row, and the
# afl output stays in fuzz/out/<target>/ (not committed). See docs/fuzzing.md.
#
# Environment: FUZZ_SECONDS (600), FUZZ_TIMEOUT_MS (afl's hang timeout, 1000),
# FUZZ_OUT (fuzz/out), FUZZ_RESUME=1 to go on from the queue of a previous run instead
# of the seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

CARGO_AFL_VERSION=0.18.2 # keep in step with the afl dependency in fuzz/Cargo.toml
seconds="${FUZZ_SECONDS:-600}"
timeout_ms="${FUZZ_TIMEOUT_MS:-1000}"
out="${FUZZ_OUT:-$root/fuzz/out}"

all_targets=(smtp_command smtp_data imap_command imap_deflate imap_fetch pop3_command sasl scram proxy_header dsn hops config trust outbound_policy web_request tracking mailfiles local_input sieve managesieve_command html jmap_request jmap_email)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

# cargo-afl builds AFL++ (afl-fuzz and its runtime) when it is installed; `config
# --build` builds it again only where that did not happen.
if ! cargo afl --version 2>/dev/null | grep -q "cargo-afl $CARGO_AFL_VERSION"; then
    echo "fuzz: installing cargo-afl $CARGO_AFL_VERSION"
    cargo install cargo-afl --locked --version "$CARGO_AFL_VERSION" --force
fi
if ! cargo afl config --build >/dev/null 2>&1; then
    # "already built" is the usual answer; anything else shows when afl-fuzz runs
    :
fi

echo "fuzz: building the targets"
(cd fuzz && cargo afl build --release --locked)
bins="${CARGO_TARGET_DIR:-$root/fuzz/target}/release"

# afl-fuzz itself, run directly (not through `cargo afl fuzz`) so that no cargo process
# stays up during the runs: where cargo-afl built it for this rustc
afl_fuzz="${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs/$(rustc -vV | awk \
    '/^release:/ { r = $2 } /^commit-hash:/ { h = substr($2, 1, 7) } END { print "rustc-" r "-" h }'
)/afl.rs-$CARGO_AFL_VERSION/afl/bin/afl-fuzz"
[ -x "$afl_fuzz" ] || { echo "fuzz: no afl-fuzz at $afl_fuzz" >&2; exit 2; }

# AFL++ here: no root-only system tuning. Frequency scaling and a core_pattern that pipes
# to a crash reporter would make it refuse to start; these tell it to go on. AFL_NO_UI
# prints status lines instead of the screen; AFL_NO_AFFINITY since the cores are shared.
export AFL_SKIP_CPUFREQ=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_UI=1
export AFL_NO_AFFINITY=1
export AFL_NO_WARN_INSTABILITY=1
export AFL_QUIET=1

found=0
printf '| target | seconds | execs | execs/s | corpus (paths) | edges | crashes | hangs |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
    bin="$bins/$t"
    [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; exit 2; }
    dir="$out/$t"
    if [ "${FUZZ_RESUME:-0}" = 1 ] && [ -d "$dir/default/queue" ]; then
        input=-
    else
        rm -rf "$dir"
        input="$root/fuzz/corpus/$t"
    fi
    mkdir -p "$dir"
    log="$dir.log"
    # -V: stop after that many seconds; -t: hang timeout; -m none: Rust allocates freely
    # within its own bounds (the targets check those); -c0: CmpLog from the same binary,
    # as `cargo afl fuzz` passes it
    if ! "$afl_fuzz" -c0 -V "$seconds" -t "$timeout_ms" -m none -i "$input" -o "$dir" "$bin" \
        >"$log" 2>&1; then
        echo "fuzz: afl-fuzz failed for $t; the end of $log:" >&2
        tail -n 30 "$log" >&2
        exit 2
    fi
    stats="$dir/default/fuzzer_stats"
    stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
    crashes=0
    hangs=0
    for kind in crashes hangs; do
        for f in "$dir/default/$kind"/id:*; do
            [ -e "$f" ] || continue
            mkdir -p "fuzz/regressions/$t"
            # a name without ':' and ',' (kept in git, readable everywhere)
            name="$kind-$(sha1sum "$f" | cut -c1-16)"
            cp "$f" "fuzz/regressions/$t/$name"
            if [ "$kind" = crashes ]; then crashes=$((crashes + 1)); else hangs=$((hangs + 1)); fi
        done
    done
    found=$((found + crashes + hangs))
    row="| $t | $seconds | $(stat execs_done) | $(stat execs_per_sec) | $(stat corpus_count) | $(stat edges_found)/$(stat total_edges) | $crashes | $hangs |"
    echo "$row"
done

if [ "$found" -gt 0 ]; then
    echo "fuzz: $found crashes or hangs, copied to fuzz/regressions/; replay them with" >&2
    echo "      cargo test -p estafeta-fuzzing --test corpora" >&2
    exit 1
fi
echo "fuzz: no crash, no hang"
