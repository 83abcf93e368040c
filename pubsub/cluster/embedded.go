package cluster

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartEmbedded runs nats-server in this process with JetStream's file
// store in dir (ssedge serve --cluster embedded): history and the id
// sequence survive a restart of ssedge. It listens on no port; the node
// connects in-process (Config.Embedded). Stop it with Shutdown after the
// node is closed.
func StartEmbedded(dir string) (*server.Server, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: --cluster embedded needs --cluster-dir DIR (the JetStream store)", ErrConfig)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: --cluster-dir: %w", ErrConfig, err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "ssedge-embedded",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: true,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded nats-server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: embedded nats-server in %q did not start within 30s", dir)
	}
	return ns, nil
}
