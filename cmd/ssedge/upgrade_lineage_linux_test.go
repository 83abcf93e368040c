package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/fdpass"
)

// An old worker hands its connections only to a process its own
// supervisor started, or one of that process's children: the abstract
// name is public in the network namespace, and another instance's
// supervisor may have the same pid in its own pid namespace.
func TestSuccessorLineage(t *testing.T) {
	if got, err := parentOf(os.Getpid()); err != nil || got != os.Getppid() {
		t.Fatalf("parentOf(self) = %d, %v; want %d", got, err, os.Getppid())
	}
	name := fmt.Sprintf("ssedge-test-lineage/%d", os.Getpid())
	ln, err := fdpass.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := fdpass.Dial(name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer, err := ln.Accept(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// The peer is this test process: a child of its parent, a grandchild
	// of its grandparent, and nothing of pid 1's unless one of those is 1.
	if err := successorOf(conn, os.Getppid()); err != nil {
		t.Fatalf("the parent's child refused: %v", err)
	}
	grand, err := parentOf(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	if err := successorOf(conn, grand); err != nil {
		t.Fatalf("the grandparent's grandchild refused: %v", err)
	}
	if err := successorOf(conn, os.Getpid()); err == nil {
		t.Fatal("a process that is not a descendant of the supervisor was accepted")
	}
}
