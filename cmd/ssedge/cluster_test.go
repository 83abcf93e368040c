package main

import (
	"strings"
	"testing"
)

func TestClusterFlags(t *testing.T) {
	out, err := run(t, "serve", "--help")
	if err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	for _, f := range []string{"cluster", "cluster-dir", "cluster-stream", "cluster-replicas", "cluster-creds",
		"cluster-token-file", "cluster-tls-ca", "cluster-tls-cert", "cluster-tls-key", "cluster-publish-timeout",
		"cluster-routes", "cluster-route-listen"} {
		if !strings.Contains(out, "--"+f+" ") {
			t.Errorf("--help does not list --%s", f)
		}
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-dir", "/tmp/x"}, "--cluster-dir needs --cluster embedded"},
		{[]string{"--cluster", "embedded"}, "--cluster embedded needs --cluster-dir"},
		{[]string{"--cluster", "10.0.0.1:4222"}, `--cluster "10.0.0.1:4222": expected nats://HOST:PORT`},
		{[]string{"--cluster", "nats://127.0.0.1:1", "--cluster-replicas", "0"}, "--cluster-replicas 0: expected 1 to 5"},
		{[]string{"--cluster", "embedded", "--cluster-dir", "/tmp/x", "--procs", "2"}, "--cluster embedded with --procs above 1"},
		{[]string{"--cluster", "nats://127.0.0.1:4222", "--cluster-stream", "a.b"}, `--cluster-stream "a.b"`},
		{[]string{"--cluster", "nats://127.0.0.1:4222", "--cluster-tls-cert", "c.pem"}, "--cluster-tls-cert and --cluster-tls-key go together"},
		{[]string{"--cluster", "nats://127.0.0.1:4222", "--cluster-routes", "nats-route://127.0.0.1:6222"}, "--cluster-routes and --cluster-route-listen need --cluster embedded"},
		{[]string{"--cluster", "embedded", "--cluster-dir", "/tmp/x", "--cluster-routes", "nats-route://127.0.0.1:6222"}, "--cluster-routes and --cluster-route-listen go together"},
		{[]string{"--cluster", "embedded", "--cluster-dir", t.TempDir(), "--cluster-route-listen", "127.0.0.1:6222", "--cluster-routes", "127.0.0.1:6223"}, `--cluster-routes "127.0.0.1:6223": expected nats-route://HOST:PORT`},
		{[]string{"--cluster", "embedded", "--cluster-dir", t.TempDir(), "--cluster-route-listen", "6222", "--cluster-routes", "nats-route://127.0.0.1:6223"}, `--cluster-route-listen "6222": expected HOST:PORT`},
	}
	for _, c := range cases {
		out, err := run(t, append([]string{"serve", "--listen", "127.0.0.1:0", "--publish-socket", t.TempDir() + "/p.sock"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("serve %v: err %v, output %q; want it to mention %q", c.args, err, out, c.want)
		}
	}
	// Every flag is a config-file key.
	cfg := writeConfig(t, "cluster = \"embedded\"\ncluster-dir = \""+t.TempDir()+"\"\ncluster-replicas = 1\n")
	o, err := parseServe([]string{"--config", cfg})
	if err != nil || o.cluster.servers != "embedded" {
		t.Fatalf("cluster keys in a config file: %v", err)
	}
}
