//go:build !race

package auth_test

import (
	"testing"

	"github.com/ssedge/ssedge/internal/auth"
)

func TestAllocs(t *testing.T) {
	v, err := auth.New(auth.Config{Prefixes: []string{"private-", "user:"}, SecretFile: writeFile(t, "s", secret)})
	if err != nil {
		t.Fatal(err)
	}
	g := grantFor(t, "private-a", "private-b", "user:7:*")
	channels := [][]byte{[]byte("private-b"), []byte("user:7:inbox"), []byte("news"), []byte("private-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")}
	var sink bool
	for name, f := range map[string]func(){
		"Private": func() {
			for _, c := range channels {
				sink = sink != v.Private(c)
			}
		},
		"Allows": func() {
			for _, c := range channels {
				sink = sink != g.Allows(c)
			}
		},
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
	_ = sink
}

var benchChannel = []byte("user:7:inbox")

func BenchmarkAllows(b *testing.B) {
	g := grantFor(b, "private-a", "private-b", "user:7:*")
	b.ReportAllocs()
	for b.Loop() {
		g.Allows(benchChannel)
	}
}
