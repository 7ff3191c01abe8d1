package certmgr

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamplePoliciesParse: every policy the project ships as an example
// (testdata/policies) is accepted by the parser the AccessKey command uses.
func TestExamplePoliciesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "policies", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePolicy(string(b)); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
