package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ssedge/ssedge/internal/sockfile"
)

func publish(args []string) error {
	fs := newFlagSet("publish", "ssedge publish --channel NAME [--event TYPE] [--socket PATH] DATA   (DATA - reads standard input)")
	socket := fs.String("socket", sockfile.DefaultPublishPath(), "the server's publish socket")
	channel := fs.String("channel", "", "channel to publish to (required)")
	event := fs.String("event", "", "event type (the EventSource event name); empty: a plain message")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *channel == "" {
		return fmt.Errorf("publish: --channel is required")
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("publish: expected exactly one DATA argument (use - to read standard input), got %d", fs.NArg())
	}
	var body io.Reader = strings.NewReader(fs.Arg(0))
	if fs.Arg(0) == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(data))
	}
	q := url.Values{"channel": {*channel}}
	if *event != "" {
		q.Set("event", *event)
	}
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", *socket)
		}},
	}
	resp, err := client.Post("http://ssedge/publish?"+q.Encode(), "application/octet-stream", body)
	if err != nil {
		return fmt.Errorf("publish to socket %q: %w (is `ssedge serve` running with --publish-socket %s?)", *socket, err, *socket)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish refused: %s: %s", resp.Status, strings.TrimSpace(string(reply)))
	}
	fmt.Print(string(reply))
	return nil
}
