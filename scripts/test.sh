#!/usr/bin/env bash
# Runs every test ssedge has, installing what they need first. This is the
# command README.md gives and .ci/run calls.
#
#   scripts/test.sh            # everything (about 5 minutes on 2 cores)
#   FUZZTIME=5s scripts/test.sh   # shorter fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-false}
FUZZTIME=${FUZZTIME:-15s}

# Debian packages the tests drive for real.
packages=(curl nginx libnginx-mod-stream chromium socat netcat-openbsd)
missing=()
# node and npm for the e2e client, from Debian when the machine has none.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# The npm EventSource client that e2e/eventsource_test.go drives, at the
# version locked in e2e/testdata/package-lock.json (the test also runs
# this itself when node_modules is missing).
echo "== npm ci in e2e/testdata (eventsource)"
(cd e2e/testdata && npm ci --no-audit --no-fund)

echo "== go modules"
go mod download
go mod verify

echo "== gofmt, go vet (linux, darwin and windows, test files included)"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt would change: $bad" >&2
	exit 1
fi
go vet ./...
GOOS=darwin go vet ./...
GOOS=windows go vet ./...

echo "== tests with the race detector"
go test -race -count=1 -timeout 15m ./...

echo "== allocation tests and the no-loss sequence test (they only run without -race)"
go test -count=1 -run 'Allocs|Sequence' ./...

echo "== bounded fuzzing ($FUZZTIME each)"
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" when -fuzztime ends while a worker is mid-call
# (go.dev/issue/75804, fixed in Go 1.27): no input failed, nothing is
# written to testdata/fuzz. That case is run once more; any other
# failure, and above all a written failing input, fails at once.
fuzz() {
	local log status
	for try in 1 2; do
		log=$(mktemp)
		status=0
		go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 2s "$1" 2>&1 | tee "$log" || status=$?
		if [ "$status" = 0 ]; then
			rm -f "$log"
			return 0
		fi
		if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$log" &&
			! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
			echo "!! $2: the Go fuzz engine's deadline race (go.dev/issue/75804), no failing input; running it again"
			rm -f "$log"
			continue
		fi
		rm -f "$log"
		return "$status"
	done
}
fuzz ./httpmin FuzzParseSplit
fuzz ./httpmin FuzzParseDifferential
fuzz ./httpmin FuzzParseProxy
fuzz ./pubsub/ingest FuzzLineProtocol
fuzz ./pubsub/ingest FuzzHTTPPublish
fuzz ./sse FuzzRoundTrip
fuzz ./sse FuzzAllowedHeaderSafe

echo "== all tests passed"
