// Command natsd runs nats-server with JetStream from its Go module, for
// the cluster benchmarks (docs/BENCH.md): one server, or -n servers joined
// in a cluster on loopback (client ports from -port on, route ports from
// -port+100 on), each with its store under -dir. It prints the client URLs
// (the --cluster value for ssedge) and runs until interrupted.
//
//	go run ./bench/cluster/natsd -dir /tmp/js -n 3
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	dir := flag.String("dir", "", "JetStream store directory (one subdirectory per server)")
	n := flag.Int("n", 1, "servers")
	port := flag.Int("port", 14222, "first client port")
	flag.Parse()
	if *dir == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "natsd: -dir is required, -n at least 1")
		os.Exit(2)
	}
	var routes []string
	for i := range *n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", *port+100+i))
	}
	var urls []string
	var servers []*server.Server
	for i := range *n {
		opts := &server.Options{ServerName: fmt.Sprint("natsd", i), Host: "127.0.0.1", Port: *port + i,
			JetStream: true, StoreDir: filepath.Join(*dir, fmt.Sprint(i)), NoSigs: true}
		if *n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "natsd", Host: "127.0.0.1", Port: *port + 100 + i}
			opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "natsd:", err)
			os.Exit(1)
		}
		ns.Start()
		if !ns.ReadyForConnections(30 * time.Second) {
			fmt.Fprintln(os.Stderr, "natsd: server did not start")
			os.Exit(1)
		}
		servers = append(servers, ns)
		urls = append(urls, ns.ClientURL())
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		leader := false
		for _, ns := range servers {
			leader = leader || ns.JetStreamIsLeader()
		}
		if leader || *n == 1 {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "natsd: no JetStream meta leader after 60s")
			os.Exit(1)
		}
	}
	fmt.Println(strings.Join(urls, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, ns := range servers {
		ns.Shutdown()
	}
}
