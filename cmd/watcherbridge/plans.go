package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/handlers/plans"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// presetLister is the part of Watcher that plans need at start-up.
type presetLister interface {
	ListPresets(ctx context.Context) ([]watcherclient.Preset, error)
}

// loadPlans reads the --plans file (nil when none is given) and looks up
// the presets that plans name only by title. Watcher may still be starting
// too, so the lookup is retried for a while.
func loadPlans(ctx context.Context, path string, watcher presetLister, log zerolog.Logger) (*plans.Set, error) {
	if path == "" {
		return nil, nil
	}
	set, err := plans.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if len(set.Unresolved()) > 0 {
		deadline := time.Now().Add(60 * time.Second)
		for {
			var presets []watcherclient.Preset
			if presets, err = listPresets(ctx, watcher); err == nil {
				if err := set.Resolve(presetsByTitle(presets)); err != nil {
					return nil, fmt.Errorf("--plans %s: %w", path, err)
				}
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("--plans %s: look up presets by title in Watcher: %w", path, err)
			}
			log.Warn().Err(err).Msg("cannot list Watcher presets yet, retrying")
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
	log.Info().Str("file", path).Int("plans", set.Len()).Msg("plans loaded")
	return set, nil
}

func listPresets(ctx context.Context, w presetLister) ([]watcherclient.Preset, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return w.ListPresets(ctx)
}

// presetsByTitle indexes the presets not deleted by exact title.
func presetsByTitle(presets []watcherclient.Preset) map[string][]int64 {
	out := map[string][]int64{}
	for _, p := range presets {
		if !p.IsDeleted {
			out[p.Title] = append(out[p.Title], p.ID)
		}
	}
	return out
}

// presetSyncer is the part of Watcher `presets sync` changes.
type presetSyncer interface {
	presetLister
	CreatePreset(ctx context.Context, p watcherclient.Preset) (watcherclient.Preset, error)
	UpdatePreset(ctx context.Context, id int64, fields any) (watcherclient.Preset, error)
}

func runPresets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "sync" {
		fmt.Fprintln(stderr, "Usage: watcherbridge presets sync --plans FILE [--dry-run] [--watcher-url URL --watcher-api-key-file FILE]")
		return errors.New("presets: want the subcommand sync")
	}
	fs := flag.NewFlagSet("watcherbridge presets sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("plans", "", "plans file (YAML or JSON)")
	dryRun := fs.Bool("dry-run", false, "print what would change without changing it")
	url := fs.String("watcher-url", "", "base URL of Watcher")
	key := fs.String("watcher-api-key", "", "Watcher system API key (prefer --watcher-api-key-file)")
	keyFile := fs.String("watcher-api-key-file", "", "file holding the Watcher system API key")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if *path == "" || *url == "" {
		return errors.New("presets sync needs --plans and --watcher-url")
	}
	if *keyFile != "" {
		k, err := readSecretFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--watcher-api-key-file: %w", err)
		}
		*key = k
	}
	set, err := plans.LoadFile(*path)
	if err != nil {
		return err
	}
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: *url, APIKey: *key, Timeout: 15 * time.Second})
	if err != nil {
		return err
	}
	_, err = syncPresets(ctx, wc, set, *dryRun, stdout)
	return err
}

// syncPresets makes Watcher's presets match the plans: each plan's preset
// (by preset_id, or by exact preset_title) must exist, non-adjustable
// when the bridge creates it, with the plan's archive depth. It prints one
// line per change (or per change it would make with dryRun) and returns
// how many there were; a second run changes nothing.
func syncPresets(ctx context.Context, w presetSyncer, set *plans.Set, dryRun bool, out io.Writer) (int, error) {
	presets, err := w.ListPresets(ctx)
	if err != nil {
		return 0, fmt.Errorf("list presets: %w", err)
	}
	byID := map[int64]watcherclient.Preset{}
	for _, p := range presets {
		byID[p.ID] = p
	}
	titles := presetsByTitle(presets)
	prefix := ""
	if dryRun {
		prefix = "would "
	}
	changes := 0
	handled := map[int64]string{} // preset id -> plan that set its depth
	for _, id := range set.IDs() {
		plan, _ := set.Get(id)
		var cur watcherclient.Preset
		var found bool
		switch {
		case plan.PresetID > 0:
			cur, found = byID[plan.PresetID]
			if !found || cur.IsDeleted {
				return changes, fmt.Errorf("plan %q: preset_id %d does not exist in Watcher: fix the plans file or give preset_title alone to have it created", id, plan.PresetID)
			}
		default:
			ids := titles[plan.PresetTitle]
			if len(ids) > 1 {
				return changes, fmt.Errorf("plan %q: %d Watcher presets are titled %q (ids %v): give preset_id", id, len(ids), plan.PresetTitle, ids)
			}
			if len(ids) == 1 {
				cur, found = byID[ids[0]], true
			}
		}
		if !found {
			no := false
			p := watcherclient.Preset{Title: plan.PresetTitle, DVRDepth: plan.DVRDepth, IsAdjustable: &no}
			changes++
			if dryRun {
				fmt.Fprintf(out, "would create preset %q (dvr_depth %s) for plan %q\n", plan.PresetTitle, depth(plan.DVRDepth), id)
				continue
			}
			created, err := w.CreatePreset(ctx, p)
			if err != nil {
				return changes, fmt.Errorf("plan %q: create preset %q: %w", id, plan.PresetTitle, err)
			}
			titles[plan.PresetTitle] = []int64{created.ID}
			byID[created.ID] = created
			handled[created.ID] = id
			fmt.Fprintf(out, "created preset %q (id %d, dvr_depth %s) for plan %q\n", plan.PresetTitle, created.ID, depth(plan.DVRDepth), id)
			continue
		}
		if plan.DVRDepth == nil || sameDepth(cur.DVRDepth, plan.DVRDepth) {
			continue
		}
		if other, ok := handled[cur.ID]; ok {
			return changes, fmt.Errorf("plans %q and %q share preset %d but want different dvr_depth", other, id, cur.ID)
		}
		handled[cur.ID] = id
		changes++
		fmt.Fprintf(out, "%supdate preset %q (id %d) for plan %q: dvr_depth %s -> %s\n", prefix, cur.Title, cur.ID, id, depth(cur.DVRDepth), depth(plan.DVRDepth))
		if dryRun {
			continue
		}
		updated, err := w.UpdatePreset(ctx, cur.ID, map[string]any{"dvr_depth": *plan.DVRDepth})
		if err != nil {
			return changes, fmt.Errorf("plan %q: update preset %d: %w", id, cur.ID, err)
		}
		byID[cur.ID] = updated
	}
	if changes == 0 {
		fmt.Fprintln(out, "presets already match the plans file")
	}
	return changes, nil
}

func sameDepth(a, b *float64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func depth(d *float64) string {
	if d == nil {
		return "unlimited"
	}
	return strconv.FormatFloat(*d, 'f', -1, 64) + " days"
}
