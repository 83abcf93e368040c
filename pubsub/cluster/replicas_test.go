package cluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// freePorts reserves n loopback ports (listen, note, close): the routes
// of a NATS cluster must be known before its servers start.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ports = append(ports, ssetest.FreePort(t))
	}
	return ports
}

// A 3-server JetStream cluster on loopback, the stream with 3 replicas:
// nodes on different servers share one id space, and with one server
// stopped the other two keep a quorum: publishes go on, nothing is lost.
func TestThreeServerCluster(t *testing.T) {
	ports := freePorts(t, 6) // client and route port of each server
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	var servers []*server.Server
	var urls []string
	for i := range 3 {
		ns, err := server.NewServer(&server.Options{ServerName: fmt.Sprint("s", i), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "ssedge-test", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ","))})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		t.Cleanup(ns.Shutdown)
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatal("nats-server did not start")
		}
		servers = append(servers, ns)
		urls = append(urls, ns.ClientURL())
	}
	ssetest.WaitFor(t, 30*time.Second, "a JetStream meta leader", func() bool {
		for _, ns := range servers {
			if ns.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	// Each node prefers a different server (nats.go shuffles the list
	// unless told not to; either way each has all three to fail over to).
	a := startNode(t, "--cluster", strings.Join(urls, ","), "--cluster-replicas", "3")
	c := startNode(t, "--cluster", strings.Join([]string{urls[2], urls[1], urls[0]}, ","), "--cluster-replicas", "3")
	st := c.subscribe(t, "/events?channel=r", "")
	c.waitSubscribed(t, 1)
	var ids []uint64
	for i := range 5 {
		ids = append(ids, a.pub.MustPublish(t, "r", "", fmt.Sprint(i)))
	}
	expectIDs(t, st, ids...)

	servers[1].Shutdown()
	for i, n := range []*node{a, c} {
		// A publish in flight as the server went may have an unknown
		// outcome: retries keep its idempotency key.
		key := fmt.Sprint("after-", i)
		ssetest.WaitFor(t, 30*time.Second, "a publish with one of three servers down", func() bool {
			id, err := publishKeyed(n, "r", key)
			if err == nil {
				ids = append(ids, id)
			}
			return err == nil
		})
	}
	expectIDs(t, st, ids[5:]...)
	expectIDs(t, a.subscribe(t, "/events?channel=r", fmt.Sprint(ids[0]-1)), ids...)
}
