// Command watcherbridge keeps Flussonic Watcher in step with billing: it
// takes activation pushes, consumes billing events from NATS JetStream and
// applies them to Watcher's Admin API idempotently.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "watcherbridge:", err)
		os.Exit(1)
	}
}

const usage = `watcherbridge keeps Flussonic Watcher in step with billing.

Usage:
  watcherbridge serve   [flags]   run the bridge (ingest, worker, health)
  watcherbridge publish TYPE (--data JSON | --file FILE | -) [flags]
                                  publish one billing event
  watcherbridge demo    [flags]   run the end-to-end demo on the sample files
  watcherbridge store backup FILE [--admin-url URL]
                                  copy the running bridge's state file
  watcherbridge store verify FILE check a copy of the state file
  watcherbridge presets sync --plans FILE [--dry-run]
                                  make Watcher's presets match the plans file
  watcherbridge version

Run "watcherbridge COMMAND -h" for the flags of a command.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "publish":
		return runPublish(ctx, rest, getenv, stdout, stderr)
	case "store":
		return runStore(ctx, rest, getenv, stdout, stderr)
	case "presets":
		return runPresets(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "watcherbridge", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// version is stamped by the Makefile from git.
var version = "dev"
