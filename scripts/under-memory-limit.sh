#!/usr/bin/env bash
# Runs a command inside a memory cgroup made for it by hand, with a memory
# limit, as a container would; reports the group's peak and OOM kills, and
# removes the group afterwards. `systemd-run -p MemoryMax=` does the same
# where systemd runs the machine; this script needs only the cgroup
# filesystem and root.
#
# Usage: bash scripts/under-memory-limit.sh [--records] SIZE -- COMMAND [ARGUMENTS...]
#        bash scripts/under-memory-limit.sh --check
#
#   SIZE       the limit: bytes, or a number with K, M or G (powers of 1024)
#   --records  also print a `result` record on standard output
#              (version= limit_bytes= peak_bytes= oom_kills= status=) for a driver
#   --check    say which kind of group this machine allows and exit 0, or why
#              none can be made and exit 125
#
# The group: cgroup v2 when its memory controller is on for the process's own
# group's children (memory.max), else cgroup v1's memory controller
# (memory.limit_in_bytes), made inside the process's own group so that an
# outer limit still applies. Where the unified (v2) hierarchy is mounted
# without the memory controller beside v1 (a hybrid machine), the command
# also gets a v2 group of its own, which gives it per-group pressure stall
# figures (memory.pressure) for the memory-pressure monitor's kernel notices.
# There is no swap limit: on a machine with swap, v1's memory.limit_in_bytes
# lets the group swap.
#
# Exit status: the command's (137 when SIGKILL ended it: the OOM killer's
# signal), or 125 when no group could be made (the reason on standard error).
set -euo pipefail

usage() {
    echo "usage: bash scripts/under-memory-limit.sh [--records] SIZE -- COMMAND [ARGUMENTS...]" >&2
    echo "       bash scripts/under-memory-limit.sh --check" >&2
    exit 64
}

records=false
check=false
while [ $# -gt 0 ]; do
    case "$1" in
    --records) records=true; shift ;;
    --check) check=true; shift ;;
    *) break ;;
    esac
done

# The mount point of the hierarchy whose mountinfo line matches `$1` (an awk
# condition on the file system type `$fstype` and super options `$super`),
# and the process's group path inside that mount (proc(5): field 4 is the
# mount's root within the hierarchy, field 5 the mount point).
mount_and_group() {
    local condition="$1" group_path="$2"
    awk -v path="$group_path" '
        {
            for (i = 1; i <= NF; i++) if ($i == "-") break
            fstype = $(i + 1); super = $(i + 3)
            if (!('"$condition"')) next
            root = $4; mount = $5
            gsub(/\\040/, " ", mount)
            relative = path
            if (root != "/") {
                if (index(path, root) != 1) next
                relative = substr(path, length(root) + 1)
                if (relative == "") relative = "/"
            }
            print (relative == "/" ? mount : mount relative)
            exit
        }' /proc/self/mountinfo
}

v1_path=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)
v2_path=$(awk -F: '$1 == "0" && $2 == "" { print $3; exit }' /proc/self/cgroup)
v1_dir=""
v2_dir=""
[ -n "$v1_path" ] && v1_dir=$(mount_and_group 'fstype == "cgroup" && super ~ /(^|,)memory(,|$)/' "$v1_path")
[ -n "$v2_path" ] && v2_dir=$(mount_and_group 'fstype == "cgroup2"' "$v2_path")

# Which kind of limited group can be made: v2 when the own v2 group lets its
# children use the memory controller, else v1.
kind=""
reason=""
if [ "$(id -u)" -ne 0 ]; then
    reason="making a cgroup needs root"
elif [ -n "$v2_dir" ] && grep -qw memory "$v2_dir/cgroup.subtree_control" 2>/dev/null; then
    kind=v2
elif [ -n "$v1_dir" ] && [ -w "$v1_dir" ] && [ -e "$v1_dir/memory.limit_in_bytes" ]; then
    kind=v1
else
    reason="no cgroup v1 memory controller and no cgroup v2 group with memory in cgroup.subtree_control"
fi
# A v2 group for per-group pressure figures beside a v1 limit (hybrid).
psi_parent=""
if [ "$kind" = v1 ] && [ -n "$v2_dir" ] && [ -w "$v2_dir" ] && [ -e "$v2_dir/cgroup.procs" ]; then
    psi_parent="$v2_dir"
fi

if $check; then
    if [ -z "$kind" ]; then
        echo "under-memory-limit: cannot make a memory cgroup here: $reason" >&2
        exit 125
    fi
    echo "under-memory-limit: cgroup $kind memory group under ${v1_dir:-$v2_dir}$([ "$kind" = v2 ] && echo "" || echo " (limit)")${psi_parent:+, v2 group under $psi_parent (pressure figures)}"
    [ "$kind" = v2 ] && echo "  (v2 limits go under $v2_dir)"
    exit 0
fi

[ $# -ge 3 ] && [ "$2" = "--" ] || usage
size="$1"
shift 2
case "$size" in
*[kK]) limit=$(( ${size%?} * 1024 )) ;;
*[mM]) limit=$(( ${size%?} * 1024 * 1024 )) ;;
*[gG]) limit=$(( ${size%?} * 1024 * 1024 * 1024 )) ;;
*[0-9]) limit=$(( size )) ;;
*) usage ;;
esac
[ "$limit" -gt 0 ] || usage

if [ -z "$kind" ]; then
    echo "under-memory-limit: cannot make a memory cgroup here: $reason" >&2
    exit 125
fi

name="under-memory-limit-$$"
groups=()
cleanup() {
    local group
    for group in "${groups[@]}"; do
        # Anything the command left behind goes with the group.
        if [ -e "$group/cgroup.procs" ]; then
            while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$group/cgroup.procs"
        fi
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            rmdir "$group" 2>/dev/null && break
            sleep 0.05
        done
        [ -d "$group" ] && echo "under-memory-limit: could not remove $group" >&2
    done
    groups=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$kind" = v2 ]; then
    group="$v2_dir/$name"
    mkdir "$group"
    groups+=("$group")
    echo "$limit" >"$group/memory.max"
    shown=$(cat "$group/memory.max")
else
    group="$v1_dir/$name"
    mkdir "$group"
    groups+=("$group")
    echo "$limit" >"$group/memory.limit_in_bytes"
    shown=$(cat "$group/memory.limit_in_bytes")
fi
procs=("$group/cgroup.procs")
if [ -n "$psi_parent" ] && mkdir "$psi_parent/$name" 2>/dev/null; then
    groups+=("$psi_parent/$name")
    procs+=("$psi_parent/$name/cgroup.procs")
fi

# The command joins the groups before it starts: a shell writes its own pid
# into each group's cgroup.procs, then becomes the command.
set +e
sh -c 'count=$1; shift
    while [ "$count" -gt 0 ]; do echo $$ >"$1" || exit 125; shift; count=$((count - 1)); done
    exec "$@"' under-memory-limit "${#procs[@]}" "${procs[@]}" "$@" &
command_pid=$!
wait "$command_pid" 2>/dev/null  # (bash would also print "Killed")
status=$?
set -e

if [ "$kind" = v2 ]; then
    peak=$(cat "$group/memory.peak" 2>/dev/null || echo -1)
    oom_kills=$(awk '$1 == "oom_kill" { print $2 }' "$group/memory.events" 2>/dev/null || echo -1)
else
    peak=$(cat "$group/memory.max_usage_in_bytes" 2>/dev/null || echo -1)
    oom_kills=$(awk '$1 == "oom_kill" { print $2 }' "$group/memory.oom_control" 2>/dev/null || echo -1)
fi
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "under-memory-limit: cgroup $kind limit $(mib "$shown") ($group): peak $(mib "$peak")," \
    "OOM kills ${oom_kills:--1}, exit status $status" >&2
if $records; then
    echo "result version=$kind limit_bytes=$shown peak_bytes=$peak oom_kills=${oom_kills:--1} status=$status"
fi
exit "$status"
