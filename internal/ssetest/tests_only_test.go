package ssetest

import (
	"os/exec"
	"strings"
	"testing"
)

// The package is for tests only: no package's own (non-test) files import
// it, so nothing of it reaches a binary.
func TestOnlyTestsImportIt(t *testing.T) {
	NeedTool(t, "go")
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "github.com/ssedge/ssedge/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp == "github.com/ssedge/ssedge/internal/ssetest" {
				t.Errorf("%s imports ssetest outside its tests", pkg)
			}
		}
	}
}
