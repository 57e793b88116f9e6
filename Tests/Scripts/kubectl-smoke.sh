#!/usr/bin/env bash
# kubectl smoke test against capstan-apiserver: a real client nobody here wrote.
#
#   Tests/Scripts/kubectl-smoke.sh <capstan-apiserver binary> <crds dir> <examples dir>
#
# Starts the server on a free port, then with Debian's kubectl: apply -f <crds>, apply -f
# <examples> (twice: the second apply must report "unchanged"), get every custom resource kind
# (checking that the CRD's additionalPrinterColumns are the table's columns, with -o wide),
# describe each object (with an Event recorded about it, which describe must list), check
# `kubectl get batchjobs` (columns and schedule) when the examples hold a BatchJob, delete -f
# <examples> (checking nothing is left) and delete -f <crds>.
set -euo pipefail

if [ "$#" -ne 3 ]; then
    echo "usage: $0 <capstan-apiserver binary> <crds dir> <examples dir>" >&2
    exit 2
fi
server_bin=$1
crds=$2
examples=$3
for path in "$crds" "$examples"; do
    [ -d "$path" ] || { echo "FAIL: $path is not a directory" >&2; exit 1; }
done
command -v kubectl >/dev/null || { echo "FAIL: kubectl is not on PATH (Debian package kubectl)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# No --token: kubectl does not send bearer tokens to a plain-HTTP server; this one listens on
# loopback only.
"$server_bin" --port 0 --kubeconfig "$work/kubeconfig" --deployments-available >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$work/server.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "FAIL: capstan-apiserver exited" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening on" "$work/server.log" || { echo "FAIL: capstan-apiserver did not start" >&2; exit 1; }

k() { kubectl --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache" "$@"; }
step() { echo; echo "== kubectl $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

step apply -f "$crds"
k apply -R -f "$crds"

step apply -f "$examples"
k apply -R -f "$examples"

step apply -f "$examples" "(again)"
again=$(k apply -R -f "$examples")
echo "$again"
changed=$(grep -v " unchanged$" <<<"$again" || true)
[ -z "$changed" ] || fail "re-applying the examples changed something: $changed"

kinds=$(k get crd -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
[ -n "$kinds" ] || fail "no CustomResourceDefinitions after applying $crds"
objects=0
for crd in $kinds; do
    plural=${crd%%.*}
    group=${crd#*.}
    resource="$plural.$group"
    names=$(k get "$resource" -A -o jsonpath='{range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}')
    [ -n "$names" ] || continue
    step get "$resource"
    table=$(k get "$resource" -A)
    echo "$table"
    # -o wide also shows the columns with priority > 0.
    wide=$(k get "$resource" -A -o wide)
    header=${wide%%$'\n'*}
    columns=$(k get crd "$crd" -o jsonpath='{.spec.versions[?(@.storage==true)].additionalPrinterColumns[*].name}')
    for column in $columns; do
        upper=$(echo "$column" | tr '[:lower:]' '[:upper:]')
        grep -qw -- "$upper" <<<"$header" || fail "kubectl get $resource: printer column $column missing from header: $header"
    done
    while read -r namespace name; do
        [ -n "$name" ] || continue
        objects=$((objects + 1))
        # An Event about the object, as a controller records one: describe must list it.
        uid=$(k get "$resource" "$name" -n "$namespace" -o jsonpath='{.metadata.uid}')
        kind=$(k get "$resource" "$name" -n "$namespace" -o jsonpath='{.kind}')
        api=$(k get "$resource" "$name" -n "$namespace" -o jsonpath='{.apiVersion}')
        k apply -f - >/dev/null <<EVENT
apiVersion: v1
kind: Event
metadata: {name: "$name.smoke$objects", namespace: "$namespace"}
involvedObject: {apiVersion: "$api", kind: "$kind", name: "$name", namespace: "$namespace", uid: "$uid"}
reason: SmokeChecked
message: "kubectl smoke test was here"
type: Normal
source: {component: kubectl-smoke}
count: 1
firstTimestamp: "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
lastTimestamp: "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
EVENT
        step describe "$resource" "$name" -n "$namespace"
        description=$(k describe "$resource" "$name" -n "$namespace")
        echo "$description"
        grep -q "^Name: *$name$" <<<"$description" || fail "kubectl describe $resource $name: no Name line"
        grep -q "SmokeChecked" <<<"$description" || fail "kubectl describe $resource $name: the object's Event is not listed"
    done <<<"$names"
done
[ "$objects" -gt 0 ] || fail "no custom resources found after applying $examples"

# BatchJobs by their plural and short name: the printer columns and the example's schedule.
if k api-resources -o name | grep -qx "batchjobs.ml.capstan.dev" && [ -n "$(k get batchjobs -A -o name)" ]; then
    step get batchjobs
    table=$(k get batchjobs -A)
    echo "$table"
    header=${table%%$'\n'*}
    for column in NAME SCHEDULE SUSPEND READY LAST LOGICALTIME AGE; do
        grep -qw -- "$column" <<<"$header" || fail "kubectl get batchjobs: no $column column: $header"
    done
    k get bj -A -o wide | head -1 | grep -qw NEXT || fail "kubectl get bj -o wide: no NEXT column"
    cron=$(k get batchjobs -A -o jsonpath='{.items[0].spec.schedule.cron}')
    [ -z "$cron" ] || grep -qF -- "$cron" <<<"$table" || fail "kubectl get batchjobs: the Schedule column does not show '$cron'"
fi

step delete -f "$examples"
k delete -R -f "$examples" --wait=true --timeout=60s
for crd in $kinds; do
    plural=${crd%%.*}
    group=${crd#*.}
    left=$(k get "$plural.$group" -A -o name)
    [ -z "$left" ] || fail "objects left after delete: $left"
done

step delete -f "$crds"
k delete -R -f "$crds" --wait=true --timeout=60s
left=$(k get crd -o name)
[ -z "$left" ] || fail "CRDs left after delete: $left"

echo
echo "kubectl smoke test passed: $objects custom resources of $(echo "$kinds" | wc -w) kinds"
