package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --log-format console writes plain text where the output is not a
// terminal: a log file or a journal gets no escape codes.
func TestConsoleLogsToAFileCarryNoColourCodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	log := newLogger("console", "info", f)
	log.Info().Str("serial", "SN-1").Msg("camera applied")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.Contains(got, "camera applied") || !strings.Contains(got, "serial=SN-1") || strings.Contains(got, "\x1b[") {
		t.Fatalf("console log in a file: %q; want readable text without escape codes", got)
	}
}
