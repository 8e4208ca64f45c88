package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/watcherbridge/watcherbridge/store"
)

const defaultAdminURL = "http://127.0.0.1:8090"

// runStore is `watcherbridge store backup FILE` and `store verify FILE`.
func runStore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: watcherbridge store backup FILE [--admin-url URL] | store verify FILE")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("watcherbridge store "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminURL := fs.String("admin-url", defaultAdminURL, "admin endpoint of the running bridge (its --admin-listen)")
	// The file comes first; flags may follow it.
	var file string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		file, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, getenv); err != nil {
		return err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" {
		return fmt.Errorf("store %s needs a FILE", sub)
	}
	var sum store.Summary
	var err error
	switch sub {
	case "backup":
		sum, err = backupStore(ctx, *adminURL, file)
	case "verify":
		sum, err = store.Verify(file)
	default:
		return fmt.Errorf("unknown store command %q: want backup or verify", sub)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"file": file, "ok": true, "summary": sum})
}

// backupStore fetches a snapshot from the running bridge, writes it next to
// file, checks it, and only then moves it into place.
func backupStore(ctx context.Context, adminURL, file string) (store.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/admin/store/backup", nil)
	if err != nil {
		return store.Summary{}, fmt.Errorf("--admin-url %q: %w", adminURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return store.Summary{}, fmt.Errorf("reach the bridge at %s (is it running? check --admin-url): %w", adminURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return store.Summary{}, fmt.Errorf("backup from %s: HTTP %d: %s", adminURL, resp.StatusCode, b)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".partial-*")
	if err != nil {
		return store.Summary{}, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.Summary{}, fmt.Errorf("write %s: %w", file, err)
	}
	if want := resp.Trailer.Get("X-Backup-Bytes"); want != strconv.FormatInt(n, 10) {
		return store.Summary{}, fmt.Errorf("backup incomplete: got %d bytes, the bridge sent %q", n, want)
	}
	sum, err := store.Verify(tmp.Name())
	if err != nil {
		return sum, fmt.Errorf("backup does not verify, nothing written to %s: %w", file, err)
	}
	return sum, os.Rename(tmp.Name(), file)
}
