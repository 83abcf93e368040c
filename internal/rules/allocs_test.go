//go:build !race

package rules

import "testing"

func TestLookupAllocs(t *testing.T) {
	s, _ := Compile([]Rule{{Match: "news"}, {Match: "user:*"}})
	ch := []byte("user:42")
	if n := testing.AllocsPerRun(100, func() { s.Lookup(ch) }); n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
}
