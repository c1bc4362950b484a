package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTimeCorpus(t *testing.T) {
	dir := os.Getenv("CORPUS")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.SplitN(string(b), "\n", 2)
		s := strings.TrimSpace(lines[1])
		s = strings.TrimPrefix(s, "[]byte(")
		s = strings.TrimSuffix(s, ")")
		data, err := strconv.Unquote(s)
		if err != nil {
			t.Log(e.Name(), err)
			continue
		}
		p := filepath.Join(t.TempDir(), "x.yaml")
		os.WriteFile(p, []byte(data), 0o600)
		start := time.Now()
		_, err = Load(LoadOptions{Path: p, Env: []string{}})
		if el := time.Since(start); el > 100*time.Millisecond {
			t.Logf("%s: %v %q", e.Name(), el, data)
		}
	}
}
