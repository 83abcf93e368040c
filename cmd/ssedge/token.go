package main

import (
	"fmt"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
)

// token mints an HS256 token for private channels, for testing and as a
// reference for back ends that issue their own.
func token(args []string) error {
	fs := newFlagSet("token", "ssedge token --secret-file FILE --channel NAME [--channel NAME ...] [--ttl 1h]")
	secretFile := fs.String("secret-file", "", "file holding the HS256 shared secret the server verifies tokens with (required)")
	channels := &listFlag{}
	fs.Var(channels, "channel", "channel the token allows: an exact name, or a pattern ending in * (prefix match); repeat for several (required)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *secretFile == "" {
		return fmt.Errorf("token: --secret-file is required")
	}
	if len(channels.vals) == 0 {
		return fmt.Errorf("token: at least one --channel is required")
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("token: unexpected argument %q, expected only flags", fs.Arg(0))
	}
	if *ttl < time.Second {
		return fmt.Errorf("token: --ttl %q: expected a duration of at least 1s, such as 15m or 1h", ttl.String())
	}
	secret, err := auth.ReadSecret(*secretFile)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tok, err := auth.Mint(secret, channels.vals, *ttl, time.Now())
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Println(tok)
	return nil
}
