package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "TCP address for subscribers (GET /events)")
	socket := flag.String("publish-socket", filepath.Join(os.TempDir(), "nethttp-sse.sock"), "unix socket for publishers (POST /publish)")
	queue := flag.Int("queue", 64, "frames queued per subscriber before it is dropped as a slow consumer")
	heartbeat := flag.Duration("heartbeat", 15*time.Second, "interval between heartbeat comments (0 disables)")
	writeTimeout := flag.Duration("write-timeout", 10*time.Second, "deadline for one write+flush to a subscriber")
	flag.Parse()
	if *queue < 1 {
		log.Fatalf("nethttp: --queue %d: want at least 1", *queue)
	}
	if err := run(*listen, *socket, *queue, *heartbeat, *writeTimeout); err != nil {
		log.Fatal(err)
	}
}

func run(listen, socket string, queue int, heartbeat, writeTimeout time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	subLn, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	pubLn, err := net.Listen("unix", socket)
	if err != nil {
		subLn.Close()
		return err
	}
	defer os.Remove(socket)

	h := newHub(uint64(time.Now().UnixMicro()))
	s := &server{hub: h, queue: queue, writeTimeout: writeTimeout}
	// Streams end when ctx is cancelled: Shutdown alone would wait for
	// them to go idle, which an SSE stream never does.
	base := func(net.Listener) context.Context { return ctx }
	subSrv := &http.Server{Handler: http.HandlerFunc(s.serveEvents), BaseContext: base, ReadHeaderTimeout: 10 * time.Second}
	pubSrv := &http.Server{Handler: http.HandlerFunc(s.servePublish), BaseContext: base, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- subSrv.Serve(subLn) }()
	go func() { errc <- pubSrv.Serve(pubLn) }()
	if heartbeat > 0 {
		go func() {
			t := time.NewTicker(heartbeat)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					h.heartbeat()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	fmt.Printf("nethttp: listening on %s, publish socket %s, pid %d\n", subLn.Addr(), socket, os.Getpid())

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	stop()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subErr := subSrv.Shutdown(shutdown)
	pubErr := pubSrv.Shutdown(shutdown)
	fmt.Printf("nethttp: stopped (%d slow consumers dropped)\n", h.dropped.Load())
	return errors.Join(subErr, pubErr)
}
