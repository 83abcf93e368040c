// Package e2e tests ssedge end to end with the real parts its users put
// around it: nginx (the example configs in deploy/nginx/, run as they are
// with only their paths and ports replaced), headless Chromium's native
// EventSource, and the npm eventsource client under Node.
//
// Each test builds nothing but ssedge itself (once per test binary, with
// internal/ssetest's Build) and starts every other part as a subprocess in
// a temporary directory: nginx with `-g 'daemon off;'`, Chromium driven
// over the DevTools protocol on a pipe (--remote-debugging-pipe, so no
// WebSocket client and no extra module), Node with the package locked in
// testdata/package-lock.json.
//
// The parts come from scripts/test.sh: Debian's nginx, libnginx-mod-stream
// and chromium, and `npm ci` in testdata/. A test whose part is missing
// skips, except under CI=true, where it fails (ssetest.NeedTool). Streams
// are read with ssetest's client, which decodes nginx's chunks and parses
// frames per the WHATWG rules.
//
// Timing: no test asserts a tight latency. "Arrives while the stream stays
// open" is bounded by a generous deadline (2 s through nginx), and every
// wait for a browser, a client, nginx or a log line is a poll with a
// deadline of several seconds (ssetest.WaitFor); no test sleeps to wait
// for a state. Real time passes only where a timeout is under test (the
// heartbeat tests idle past proxy_read_timeout, the buffering control
// reads until its bound). The tests run in parallel; together they take
// about 15 s.
package e2e
