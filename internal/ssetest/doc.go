// Package ssetest is the one test client of ssedge, for tests only: no
// package's own files import it (TestOnlyTestsImportIt checks).
//
// It holds what every package's tests need to drive a real server over
// real sockets:
//
//   - an SSE client (Open, Subscribe) that connects over TCP or a unix
//     socket, optionally from a given source address and with extra
//     request headers, keeps the response head for the test to inspect,
//     and parses the stream (Stream.Next, Stream.NextEvent, with a
//     duration or an absolute deadline);
//   - a Parser that follows the WHATWG HTML "event stream interpretation"
//     (§9.2.6) byte by byte: CR, LF and CRLF line ends, a leading BOM, the
//     id/event/data/retry fields, comments, one space after the colon
//     stripped, data lines joined with LF, an id containing NUL ignored,
//     a retry of anything but ASCII digits ignored. It reports every block
//     up to a blank line as a Frame: dispatched events, and the control
//     blocks (comments such as heartbeats, retry advice) an EventSource
//     would swallow, so tests can see those too;
//   - publishers for the publish socket (Publisher over HTTP, PublishLine
//     over the line protocol);
//   - WaitFor, the one poll-with-a-deadline for an observable condition
//     (Until where the test words its own failure), and Log, which
//     collects a subprocess's lines so a test can wait for one;
//   - Build (a binary built once per test process), NeedTool and NeedFile
//     (an external part: missing, the test skips, or fails under CI=true).
//
// Every read takes a deadline and ends with an error that says whether
// the time ran out or the stream ended, and what was read so far. A
// Stream is used by one goroutine at a time; Log and Build are safe for
// concurrent use.
//
// The load generator (cmd/ssedge-load) keeps its own, allocation-free
// reader: it is built for speed, this one for clear failures.
package ssetest
