package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// workerMain runs the binary as a worker process: it takes its job from
// the first command on stdin and reports on stdout (see proto.go).
func workerMain() int {
	out := newMessenger(os.Stdout)
	cmds := make(chan command, 4)
	go readCommands(os.Stdin, cmds)
	first, ok := <-cmds
	if !ok || first.Cmd != "start" || first.Job == nil {
		out.send(message{Type: "fatal", Error: fmt.Sprintf("ssedge-load worker: first command %q: want start with a job", first.Cmd)})
		return 1
	}
	if err := runWorker(first.Job, cmds, out); err != nil {
		out.send(message{Type: "fatal", Error: err.Error()})
		return 1
	}
	return 0
}

// readCommands decodes command lines into cmds and closes it at EOF; a
// line it cannot decode ends the stream too, as if the parent had gone.
func readCommands(r io.Reader, cmds chan<- command) {
	defer close(cmds)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var c command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			fmt.Fprintf(os.Stderr, "ssedge-load worker: command %q: %v\n", clip(sc.Bytes()), err)
			return
		}
		cmds <- c
	}
}
