package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/watcherbridge/watcherbridge/handlers"
)

// runReconcile is `watcherbridge reconcile`: the running bridge pages
// through Watcher's cameras and users, compares them with the desired
// state and, with --fix, pushes the desired state where they differ.
// Cameras Watcher holds that the bridge does not know are reported, never
// touched.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watcherbridge reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := newAdminFlags(fs)
	org := fs.Int64("organization", 0, "compare only this Watcher organization (default all)")
	fix := fs.Bool("fix", false, "push the desired state to Watcher where it differs")
	exitCode := fs.Bool("exit-code", false, "exit with status 3 when drift is found and not fixed (for scripts and cron)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := af.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	body, _ := json.Marshal(handlers.ReconcileQuery{OrganizationID: *org, Fix: *fix})
	var res handlers.ReconcileResult
	if err := adminCall(ctx, http.MethodPost, *af.url, "/admin/reconcile", bytes.NewReader(body), &res); err != nil {
		return err
	}
	if *af.output == "json" {
		if err := writeJSONOut(stdout, res); err != nil {
			return err
		}
		return reconcileStatus(res, *exitCode)
	}
	scope := "all organizations"
	if *org != 0 {
		scope = fmt.Sprintf("organization %d", *org)
	}
	fmt.Fprintf(stdout, "Compared %s: %d cameras and %d users wanted, Watcher holds %d cameras and %d users.\n",
		scope, res.DesiredCameras, res.DesiredUsers, res.WatcherCameras, res.WatcherUsers)
	if len(res.Drift) == 0 {
		fmt.Fprintln(stdout, "No drift: Watcher holds the desired state.")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tKEY\tWATCHER NAME\tPROBLEM\tWATCHER -> DESIRED")
		for _, d := range res.Drift {
			var diff []string
			for _, f := range d.Diff {
				diff = append(diff, fmt.Sprintf("%s: %s -> %s", f.Field, f.From, f.To))
			}
			problem := d.Problem
			if problem == "unknown" {
				problem = "unknown (not touched)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Kind, d.Key, d.Name, problem, orDash(strings.Join(diff, "; ")))
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(stdout, "%d missing, %d different, %d unknown.\n", res.Missing, res.Different, res.Unknown)
	if res.Fixed {
		printChanges(stdout, res.Changes, false)
		fmt.Fprintf(stdout, "Fixed: %d changes sent, %d failed.\n", len(res.Changes)-res.Errors, res.Errors)
	} else if res.Missing+res.Different > 0 {
		fmt.Fprintln(stdout, "Run with --fix to push the desired state.")
	}
	return reconcileStatus(res, *exitCode)
}

// reconcileStatus is reconcile's outcome, whatever the output format:
// failed fixes are an error (status 1, as a failed comparison), and with
// --exit-code, drift found and not fixed is status 3, so that a script
// can tell drift from a failure. Cameras Watcher holds that the bridge
// does not know are reported, never drift: the bridge does not own them.
func reconcileStatus(res handlers.ReconcileResult, exitCode bool) error {
	switch {
	case res.Fixed && res.Errors > 0:
		return fmt.Errorf("%d fixes failed: the drift they were for remains; see the lines above, fix the cause and run reconcile --fix again", res.Errors)
	case !exitCode || res.Fixed || res.Missing+res.Different == 0:
		return nil
	}
	return exitStatus{code: 3, msg: fmt.Sprintf("drift: %d missing, %d different; run reconcile --fix to repair", res.Missing, res.Different)}
}
