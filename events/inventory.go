package events

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// InventoryRow is one line of billing's stock list, ready to publish as a
// camera.assigned event.
type InventoryRow struct {
	Line       int
	Assignment Assignment
}

// InventoryError is a line of the stock list that cannot be used.
type InventoryError struct {
	Line   int
	Reason string
}

func (e InventoryError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ParseInventory reads billing's stock list: CSV with a header naming at
// least agent_serial, organization_id and preset_id (or plan_id); columns
// subscriber_id and title are optional and others are ignored. Bad lines are
// returned apart so one typo does not hide the rest of the file.
func ParseInventory(r io.Reader) ([]InventoryRow, []InventoryError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("inventory header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		col[h] = i
	}
	if _, ok := col["agent_serial"]; !ok {
		return nil, nil, fmt.Errorf("inventory header %q has no agent_serial column; want agent_serial,organization_id,preset_id,subscriber_id,title", strings.Join(header, ","))
	}
	var rows []InventoryRow
	var bad []InventoryError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, InventoryError{Line: pe.StartLine, Reason: pe.Err.Error()})
				continue
			}
			return rows, bad, fmt.Errorf("inventory line %d: %w", line, err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		a := Assignment{
			AgentSerial:  get("agent_serial"),
			PlanID:       get("plan_id"),
			SubscriberID: get("subscriber_id"),
			Title:        get("title"),
		}
		if err := parseIDField(&a.OrganizationID, get("organization_id")); err != nil {
			bad = append(bad, InventoryError{Line: line, Reason: "organization_id: " + err.Error()})
			continue
		}
		if err := parseIDField(&a.PresetID, get("preset_id")); err != nil {
			bad = append(bad, InventoryError{Line: line, Reason: "preset_id: " + err.Error()})
			continue
		}
		if err := a.Validate(); err != nil {
			bad = append(bad, InventoryError{Line: line, Reason: err.Error()})
			continue
		}
		rows = append(rows, InventoryRow{Line: line, Assignment: a})
	}
	return rows, bad, nil
}

func parseIDField(dst *ID, s string) error {
	if s == "" {
		return nil
	}
	return dst.UnmarshalJSON([]byte(`"` + strings.ReplaceAll(s, `"`, ``) + `"`))
}
