package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/store"
)

// runInspect is `watcherbridge camera show SERIAL` and `subscriber show
// ID`: one record of the running bridge's store, read through its admin
// API (never from the live file), secrets masked.
func runInspect(ctx context.Context, kind string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "show" {
		return fmt.Errorf("usage: watcherbridge %s show %s [--admin-url URL] [--output table|json]", kind, map[string]string{"camera": "SERIAL", "subscriber": "ID"}[kind])
	}
	fs := flag.NewFlagSet("watcherbridge "+kind+" show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := newAdminFlags(fs)
	id, rest := leadingArg(args[1:])
	if err := parseFlags(fs, rest, getenv); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		return fmt.Errorf("%s show needs the %s's id", kind, kind)
	}
	if err := af.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	path := "/admin/cameras/" + url.PathEscape(id)
	if kind == "subscriber" {
		path = "/admin/subscribers/" + url.PathEscape(id)
	}
	var raw json.RawMessage
	if err := adminCall(ctx, http.MethodGet, *af.url, path, nil, &raw); err != nil {
		return err
	}
	if *af.output == "json" {
		_, err := stdout.Write(append(raw, '\n'))
		return err
	}
	if kind == "camera" {
		var v handlers.CameraView
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		printCamera(stdout, v)
		return nil
	}
	var v handlers.SubscriberView
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	printSubscriber(stdout, v)
	return nil
}

func printCamera(w io.Writer, v handlers.CameraView) {
	id := v.Serial
	if id == "" {
		id = "camera_id " + v.CameraID
	}
	fmt.Fprintf(w, "Camera %s (Watcher name %s)\n", id, v.WatcherName)
	if a := v.Activation; a != nil {
		r := a.Row
		fmt.Fprintf(w, "  Activation:  %s at %s\n", a.EventID, fmtTime(a.Time))
		fmt.Fprintf(w, "               agent_id %s, model %s, agent_key %s\n", orDash(r.AgentID), orDash(r.AgentModel), orDash(r.AgentKey))
		fmt.Fprintf(w, "               stream %s\n", orDash(r.StreamURL))
	} else if v.Serial != "" {
		fmt.Fprintln(w, "  Activation:  none yet")
	}
	if b := v.Billing; b != nil {
		fmt.Fprintf(w, "  Billing:     %s at %s\n", b.EventID, fmtTime(b.Time))
		fmt.Fprintf(w, "               subscriber %s, organization %d, preset %d, plan %s, title %q\n", orDash(b.SubscriberID), b.OrganizationID, b.PresetID, orDash(b.PlanID), b.Title)
	} else if v.Added == nil {
		fmt.Fprintln(w, "  Billing:     none yet")
	}
	if a := v.Added; a != nil {
		fmt.Fprintf(w, "  Added:       %s at %s\n", a.EventID, fmtTime(a.Time))
		fmt.Fprintf(w, "               subscriber %s, organization %d, preset %d, plan %s, stream %s\n", orDash(a.SubscriberID), a.OrganizationID, a.PresetID, orDash(a.PlanID), a.StreamURL)
	}
	if u := v.Unassigned; u != nil {
		fmt.Fprintf(w, "  Unassigned:  %s at %s: %s\n", u.EventID, fmtTime(u.Time), u.Reason)
	}
	if s := v.Subscriber; s != nil {
		fmt.Fprintf(w, "  Subscriber:  %s\n", subscriberLine(*s))
	}
	switch {
	case v.DesiredError != "":
		fmt.Fprintf(w, "  Desired:     cannot be computed: %s\n", v.DesiredError)
	case v.Held:
		fmt.Fprintln(w, "  Desired:     held, waiting for the other half (activation or billing)")
	default:
		fmt.Fprintf(w, "  Desired:     %s\n", compactJSON(v.Desired))
	}
	switch {
	case v.Applied == nil:
		fmt.Fprintln(w, "  Applied:     never sent to Watcher")
	default:
		state := "in sync"
		if !v.InSync {
			state = "DIFFERS from desired"
		}
		fmt.Fprintf(w, "  Applied:     %s at %s by %s (%s)\n", state, fmtTime(v.Applied.At), orDash(v.Applied.EventID), v.Applied.Hash)
		if !v.InSync {
			fmt.Fprintf(w, "               last sent: %s\n", compactJSON(v.Applied.Fields))
		}
	}
	printRecent(w, v.Recent)
}

func subscriberLine(s handlers.SubscriberBrief) string {
	if !s.Known {
		return s.ID + " (billing has said nothing about it yet)"
	}
	var parts []string
	parts = append(parts, "plan "+orDash(s.Plan))
	if s.Deleted {
		parts = append(parts, "deleted")
	}
	if s.Suspension != nil {
		parts = append(parts, fmt.Sprintf("suspended since %s (%s)", fmtTime(s.Suspension.Since), s.Suspension.Policy))
	} else {
		parts = append(parts, "not suspended")
	}
	return s.ID + ": " + strings.Join(parts, ", ")
}

func printSubscriber(w io.Writer, v handlers.SubscriberView) {
	r := v.Record
	fmt.Fprintf(w, "Subscriber %s\n", r.ID)
	if p := r.Profile; p != nil {
		fmt.Fprintf(w, "  Profile:     %s at %s: login %s, name %q, organization %d, password %s\n", p.EventID, fmtTime(p.Time), p.Login, p.Name, p.OrganizationID, map[bool]string{true: "set", false: "not set"}[p.PasswordHash != ""])
	} else {
		fmt.Fprintln(w, "  Profile:     none yet")
	}
	user := "not created yet"
	if r.UserID != 0 {
		user = fmt.Sprintf("id %d", r.UserID)
	}
	state := "never sent"
	if r.AppliedUser != nil {
		state = "DIFFERS from desired"
		if v.UserInSync {
			state = "in sync"
		}
		state += " (last sent " + fmtTime(r.AppliedUser.At) + " by " + orDash(r.AppliedUser.EventID) + ")"
	}
	fmt.Fprintf(w, "  Watcher user: %s, %s\n", user, state)
	if u := v.DesiredUser; u != nil {
		fmt.Fprintf(w, "  Desired user: enabled %t, readonly %t\n", u.Enabled != nil && *u.Enabled, u.Readonly != nil && *u.Readonly)
	}
	for _, p := range r.Plans {
		fmt.Fprintf(w, "  Plan:        %s from %s (%s)\n", p.PlanID, fmtTime(p.Time), p.EventID)
	}
	if p := r.Payment; p != nil {
		st := "paid"
		if p.Overdue {
			st = "OVERDUE"
		}
		fmt.Fprintf(w, "  Payment:     %s, invoice %s, %s at %s\n", st, orDash(p.InvoiceID), p.EventID, fmtTime(p.Time))
	}
	if s := r.Suspension; s != nil {
		fmt.Fprintf(w, "  Suspension:  %s since %s (plan %s, %s)%s\n", s.Policy, fmtTime(s.Since), orDash(s.PlanID), s.EventID, suspensionChanges(s))
	} else {
		fmt.Fprintln(w, "  Suspension:  none")
	}
	if s := r.LastSuspension; s != nil {
		fmt.Fprintf(w, "  Last lifted: %s from %s to %s by %s\n", s.Policy, fmtTime(s.Since), fmtTime(s.LiftedAt), orDash(s.LiftedBy))
	}
	if v.Deleted {
		fmt.Fprintf(w, "  Deleted:     %s at %s\n", r.Deleted.EventID, fmtTime(r.Deleted.Time))
	}
	for _, g := range r.Folders {
		st := "revoked"
		if g.Granted {
			st = fmt.Sprintf("granted (dvr %t, ptz %t)", g.CanViewDVR, g.CanUsePTZ)
		}
		fmt.Fprintf(w, "  Folder:      %d of organization %d %s by %s\n", g.FolderID, g.OrganizationID, st, g.EventID)
	}
	if len(v.Cameras) == 0 {
		fmt.Fprintln(w, "  Cameras:     none")
	} else {
		fmt.Fprintln(w, "  Cameras:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "    CAMERA\tWATCHER NAME\tENABLED\tAPPLIED")
		for _, c := range v.Cameras {
			en, applied := "-", "in sync"
			if c.Enabled != nil {
				en = fmt.Sprint(*c.Enabled)
			}
			switch {
			case c.Held:
				applied = "held"
			case !c.InSync:
				applied = "DIFFERS"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", displayKey(c.Key), c.WatcherName, en, applied)
		}
		_ = tw.Flush()
	}
	printRecent(w, r.Recent)
}

func suspensionChanges(s *store.Suspension) string {
	c := s.Changed
	if c == nil {
		return ", not applied yet"
	}
	var parts []string
	if c.UserDisabled {
		parts = append(parts, "user disabled")
	}
	if c.UserReadonly {
		parts = append(parts, "user read-only")
	}
	if len(c.Cameras) > 0 {
		parts = append(parts, fmt.Sprintf("%d camera(s) disabled", len(c.Cameras)))
	}
	if len(c.Folders) > 0 {
		parts = append(parts, fmt.Sprintf("%d folder(s) revoked", len(c.Folders)))
	}
	if len(parts) == 0 {
		return ", changed nothing"
	}
	return ": " + strings.Join(parts, ", ")
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// displayKey shows a store key without the NUL prefix of added cameras.
func displayKey(key string) string {
	if id, ok := strings.CutPrefix(key, store.AddedKey("")); ok {
		return "camera_id " + id
	}
	return key
}

func printRecent(w io.Writer, recent []store.EventRef) {
	if len(recent) == 0 {
		fmt.Fprintln(w, "  Recent events: none")
		return
	}
	fmt.Fprintln(w, "  Recent events (oldest first):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    ID\tTYPE\tTIME\tOUTCOME")
	for _, e := range recent {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", e.ID, e.Type, fmtTime(e.Time), e.Outcome)
	}
	_ = tw.Flush()
}
