package activation

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxListedColumns bounds how many header names an error quotes.
const maxListedColumns = 20

// hiddenRest ends the Raw of a record that could not be split into cells
// when the header has secret columns: past the error there is no telling
// which text is agent_key, so none of it is shown.
const hiddenRest = "[rest not shown: it cannot be split into cells and may hold agent_key or agent_pin]"

func parseCSV(data []byte, lim Limits) (Result, error) {
	res := Result{Format: FormatCSV}
	rd := csv.NewReader(bytes.NewReader(data))
	rd.FieldsPerRecord = -1 // cell counts are checked per record below

	cols, err := readHeader(rd)
	if err != nil {
		if looksJSON(data) {
			err.Reason += "; the body looks like JSON: send it with Content-Type application/json"
		}
		return res, err
	}
	hasSecret := false
	for _, c := range cols {
		hasSecret = hasSecret || isSecret(c)
	}

	index := 0
	for {
		start := rd.InputOffset()
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return Result{Format: FormatCSV}, fmt.Errorf("read csv: %w", err)
		}
		if err == nil && blank(rec) {
			continue
		}
		index++
		if index > lim.MaxRows {
			return Result{Format: FormatCSV}, bodyErr("push has more than %d rows: split it", lim.MaxRows)
		}
		if pe != nil {
			// encoding/csv cannot resync after an unterminated quote: it
			// reads to the end of the body looking for the closing quote.
			// The rows before it are kept and everything after it becomes
			// this one rejected entry; the sender has to fix the quote.
			raw := bytes.TrimLeft(data[start:rd.InputOffset()], "\r\n")
			res.Rejected = append(res.Rejected, Rejected{
				Index:  index,
				Line:   pe.StartLine,
				Raw:    rawUnparsed(raw, rec, cols, hasSecret),
				Reason: csvReason(pe),
			})
			continue
		}
		line, _ := rd.FieldPos(0)
		if len(rec) > len(cols) {
			res.Rejected = append(res.Rejected, Rejected{
				Index: index,
				Line:  line,
				Raw:   rawShifted(rec, cols),
				Reason: fmt.Sprintf("row has %d cells but the header has %d columns: quote cells that contain commas, or name every column in the header",
					len(rec), len(cols)),
			})
			continue
		}
		vals := make(map[string]value, len(rec))
		for i, cell := range rec {
			if cols[i] != "" && strings.TrimSpace(cell) != "" {
				vals[cols[i]] = value{text: cell, kind: valString}
			}
		}
		row, err := buildRow(vals, lim.MaxFieldBytes)
		if err != nil {
			res.Rejected = append(res.Rejected, Rejected{Index: index, Line: line, Raw: rawCells(rec, cols), Reason: err.Error()})
			continue
		}
		res.Rows = append(res.Rows, Parsed{Index: index, Line: line, Row: row})
	}
	return res, nil
}

// readHeader maps each header cell to the known field it names, or "" for
// columns Parse ignores.
func readHeader(rd *csv.Reader) ([]string, *BodyError) {
	header, err := rd.Read()
	if err != nil {
		return nil, bodyErr("the header line is not valid CSV (%v): write the column names on the first line, separated by commas", err)
	}
	names := make([]string, len(header))
	known := false
	for i, h := range header {
		names[i] = normName(h)
		known = known || isKnown(names[i])
	}
	if !known {
		// Most likely a push without a header line. The cells are then
		// data, secrets included, so the error does not quote them.
		return nil, bodyErr("the first line names none of the known columns (%s): start the CSV with a header line",
			"agent_serial, agent_id, agent_key, agent_model, stream_url, ...")
	}
	seen := make(map[string]int, len(names))
	hasSerial := false
	for i, n := range names {
		if n == "" {
			continue
		}
		if j, dup := seen[n]; dup {
			return nil, bodyErr("the header names column %s twice (columns %d and %d): name each column once", quoteName(n), j+1, i+1)
		}
		seen[n] = i
		hasSerial = hasSerial || n == FieldAgentSerial
	}
	if !hasSerial {
		return nil, bodyErr("the header has no agent_serial column (found %s): add the camera serial number as column agent_serial", listNames(header))
	}
	cols := make([]string, len(names))
	for i, n := range names {
		if isKnown(n) {
			cols[i] = n
		}
	}
	return cols, nil
}

func quoteName(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func listNames(header []string) string {
	var b strings.Builder
	for i, h := range header {
		if i == maxListedColumns {
			fmt.Fprintf(&b, " and %d more", len(header)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteName(strings.TrimSpace(h)))
	}
	return b.String()
}

// blank reports a record with no content, such as a line of commas that a
// spreadsheet left at the end; it is skipped like an empty line.
func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func csvReason(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf("line %d, column %d: a \" appears in a cell that is not quoted: wrap the whole cell in double quotes and write each quote inside it as \"\"",
			pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Sprintf("line %d, column %d: a quoted cell is not closed properly: end it with \" followed by a comma or line break and write each quote inside it as \"\"; a quote that is never closed swallows every line after it, so those rows are in this entry too",
			pe.Line, pe.Column)
	}
	return fmt.Sprintf("line %d, column %d: not valid CSV (%v): fix the quoting of this row", pe.Line, pe.Column, pe.Err)
}

// rawCells re-joins a record for display with the secret cells masked.
func rawCells(rec, cols []string) string {
	out := make([]string, 0, len(rec))
	size := 0
	for i, c := range rec {
		if size > MaxRawBytes {
			break
		}
		if i < len(cols) && isSecret(cols[i]) && c != "" {
			c = masked
		}
		if len(c) > MaxRawBytes {
			c = c[:MaxRawBytes]
		}
		size += len(c) + 1
		out = append(out, c)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(out) // writes to a strings.Builder cannot fail
	w.Flush()
	return truncateRaw(strings.TrimRight(b.String(), "\n"))
}

// rawShifted shows a record with more cells than the header. A stray comma
// may have moved the secrets one or more cells to the right, so every cell
// from the first secret column on is masked.
func rawShifted(rec, cols []string) string {
	first := -1
	for i, c := range cols {
		if isSecret(c) {
			first = i
			break
		}
	}
	if first < 0 {
		return rawCells(rec, cols)
	}
	out := make([]string, len(rec))
	copy(out, rec)
	for i := first; i < len(out); i++ {
		if out[i] != "" {
			out[i] = masked
		}
	}
	return rawCells(out, cols)
}

// rawUnparsed shows a record encoding/csv could not read. partial holds the
// cells it read before the error, which are exact, so their secrets can be
// masked; the text from the error on is shown only when the header has no
// secret column at all.
func rawUnparsed(raw []byte, partial, cols []string, hasSecret bool) string {
	if !hasSecret {
		return truncateRaw(strings.TrimRight(string(raw), "\r\n"))
	}
	s := ""
	switch {
	case len(partial) > len(cols):
		s = rawShifted(partial, cols) + ","
	case len(partial) > 0:
		s = rawCells(partial, cols) + ","
	}
	return truncateRaw(s + hiddenRest)
}
