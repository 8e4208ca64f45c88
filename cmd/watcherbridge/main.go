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
		code := 1
		var es exitStatus
		if errors.As(err, &es) {
			code = es.code
		}
		os.Exit(code)
	}
}

// exitStatus is an error that asks for an exit status other than 1.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

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
  watcherbridge dlq list|show|retry|drop [ID] [flags]
                                  inspect, retry or drop dead letters
  watcherbridge camera show SERIAL  what the bridge knows of a camera
  watcherbridge subscriber show ID  what the bridge knows of a subscriber
  watcherbridge status            consumers, dead letters, state file, Watcher
  watcherbridge replay --topic T [--since TIME | --from-seq N] [--until TIME | --to-seq N]
                       [--subject S] [--dry-run] [--force]
                                  re-run stored events through the running bridge
  watcherbridge reconcile [--organization ID] [--fix] [--exit-code]
                                  compare Watcher with the desired state, fix drift
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
	case "dlq":
		return runDLQ(ctx, rest, getenv, stdout, stderr)
	case "camera", "subscriber":
		return runInspect(ctx, cmd, rest, getenv, stdout, stderr)
	case "status":
		return runStatus(ctx, rest, getenv, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, getenv, stdout, stderr)
	case "reconcile":
		return runReconcile(ctx, rest, getenv, stdout, stderr)
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
