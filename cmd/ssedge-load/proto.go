package main

import (
	"encoding/json"
	"io"
	"sync"
)

// The parent and its workers speak JSON lines: commands on the worker's
// stdin, messages on its stdout. A worker's stderr is the parent's.
//
//	parent -> worker: {"cmd":"start","job":{...}}   open job.Count connections
//	worker -> parent: {"type":"progress",...}      every 250 ms while connecting
//	worker -> parent: {"type":"connected",...}     every connection is streaming or failed
//	parent -> worker: {"cmd":"drop","after":K}     storm (storm.go): once every stream has K events,
//	                                               close them all and reconnect each with Last-Event-ID
//	worker -> parent: {"type":"dropped",...}       closed them all
//	worker -> parent: {"type":"resumed",...}       every dropped stream is streaming again or failed
//	worker -> parent: {"type":"complete"}          every live connection has every event
//	parent -> worker: {"cmd":"report"}
//	worker -> parent: {"type":"report","report":{...}}
//	parent -> worker: {"cmd":"quit"} (or EOF)      close everything and exit 0
//
// A worker that cannot go on sends {"type":"fatal","error":"..."} and exits 1.

// workerFlag is the hidden first argument that makes the binary a worker.
const workerFlag = "--worker"

// workerJob is one worker's share of the connections.
type workerJob struct {
	Target           string   `json:"target"`    // IPv4 "ip:port" to connect to
	Request          string   `json:"request"`   // the whole GET request
	First            int      `json:"first"`     // global index of this worker's first connection
	Count            int      `json:"count"`     // connections to open
	SrcAddrs         []string `json:"src_addrs"` // source addresses; connection i binds SrcAddrs[i % len]; empty: let the kernel choose
	Concurrency      int      `json:"concurrency"`
	ConnectTimeoutNs int64    `json:"connect_timeout_ns"`
	Events           int      `json:"events"` // events the parent will publish
	Run              uint64   `json:"run"`
	// StormConcurrency bounds the reconnects in flight after a storm drop
	// (0: Concurrency); see storm.go.
	StormConcurrency int `json:"storm_concurrency,omitempty"`
}

type command struct {
	Cmd string     `json:"cmd"` // start, drop, report, quit
	Job *workerJob `json:"job,omitempty"`
	// After is drop's threshold: the worker drops every stream once each
	// has this many events, then reconnects each with Last-Event-ID.
	After int `json:"after,omitempty"`
}

type message struct {
	Type       string         `json:"type"` // progress, connected, dropped, resumed, complete, report, fatal
	Connected  int            `json:"connected,omitempty"`
	Failed     int            `json:"failed,omitempty"`
	Errors     map[string]int `json:"errors,omitempty"` // failure counts by reason
	FirstError string         `json:"first_error,omitempty"`
	Report     *workerReport  `json:"report,omitempty"`
	Error      string         `json:"error,omitempty"`
	Storm      *stormWorker   `json:"storm,omitempty"` // dropped and resumed
}

// workerReport is a worker's final account.
type workerReport struct {
	tally
	Connected       int            `json:"connected"`
	Lost            uint64         `json:"lost"`              // events a connected subscription never got
	ClosedDuringRun int            `json:"closed_during_run"` // subscriptions that ended after connecting
	CloseReasons    map[string]int `json:"close_reasons,omitempty"`
	MinGot          int            `json:"min_got"` // fewest distinct events on one connection
	MaxGot          int            `json:"max_got"`
	CPUNs           int64          `json:"cpu_ns"`         // the worker's CPU time since its last connection connected
	Gaps            map[string]int `json:"gaps,omitempty"` // ssedge.gap events received, by reason
}

// messenger writes JSON lines; safe for concurrent use.
type messenger struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newMessenger(w io.Writer) *messenger { return &messenger{enc: json.NewEncoder(w)} }

func (m *messenger) send(v any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.enc.Encode(v)
}
