package watchertest

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// cameraOut renders a stored camera with the read-only extras GET adds.
func (s *Server) cameraOut(rec record) record {
	out := rec.clone()
	if id, ok := rec.int("preset_id"); ok {
		if p, ok := s.st.presets[id]; ok {
			out["preset"] = s.presetOut(p)
		}
	}
	out["permissions"] = record{"view": true, "edit": true, "dvr": true, "ptz": rec.bool("can_ptz")}
	return out
}

// newCamera returns the defaults POST /cameras documents.
func (s *Server) newCamera(name string) record {
	return record{
		"name":            name,
		"title":           "",
		"enabled":         true,
		"static":          true,
		"dvr_depth":       nil,
		"organization_id": s.defaultOrg(),
		"preset_id":       s.defaultPreset(),
		"folder_id":       nil,
		"playback_config": record{"token": randomHex(16)},
	}
}

func (s *Server) defaultOrg() int64 {
	for id, o := range s.st.orgs {
		if o.bool("is_default") {
			return id
		}
	}
	return defaultOrgID
}

func (s *Server) defaultPreset() int64 {
	for id, p := range s.st.presets {
		if p.bool("is_default") {
			return id
		}
	}
	return defaultPresetID
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// generateName follows Watcher's examples: "First Camera" becomes
// "first.camera-543bf23382".
func (s *Server) generateName(title string) string {
	base := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(title)), " ", ".")
	base = strings.Map(func(r rune) rune {
		if r == '/' || r == '?' || r == '#' || r == '%' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, base)
	if base == "" {
		base = "camera"
	}
	for {
		name := base + "-" + randomHex(5)
		if _, taken := s.st.cameras[name]; !taken {
			s.st.next["camera"]++
			return name
		}
	}
}

func validName(name string) error {
	if name == "" || len(name) > 255 {
		return invalid("name must be 1 to 255 characters")
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return r == '/' || r == '?' || r == '#' || r == '%' || unicode.IsSpace(r) || unicode.IsControl(r)
	}); i >= 0 {
		return invalid("name %q contains %q, which cannot appear in a URL path", name, name[i:i+1])
	}
	return nil
}

// cameraInput normalises camera fields: PTZ arrives as ptz, can_ptz or
// onvif_ptz and is stored as both can_ptz and onvif_ptz; thumbnails may be
// a flag or a snapshot URL, which goes to thumbnails_url.
func cameraInput(in map[string]json.RawMessage) (record, error) {
	in = maps.Clone(in)
	for _, k := range []string{"can_ptz", "onvif_ptz", "ptz"} {
		if v, ok := in[k]; ok {
			in["can_ptz"], in["onvif_ptz"] = v, v
			break
		}
	}
	delete(in, "ptz")
	if v, ok := in["thumbnails"]; ok {
		var url string
		if json.Unmarshal(v, &url) == nil && strings.TrimSpace(url) != "" && !isBoolText(url) {
			in["thumbnails"] = json.RawMessage("true")
			if _, given := in["thumbnails_url"]; !given {
				in["thumbnails_url"] = v
			}
		}
	}
	return parseFields(in, cameraField)
}

// nameInput extracts an explicit camera name; "" means generate one.
func nameInput(in map[string]json.RawMessage) (string, error) {
	raw, ok := in["name"]
	if !ok {
		return "", nil
	}
	v, err := coerce(kString, raw)
	if err != nil {
		return "", invalid("name: %v", err)
	}
	name, _ := v.(string)
	if name == "" {
		return "", nil
	}
	return name, validName(name)
}

// checkCamera validates references; prev is the stored camera, nil on
// create.
func (s *Server) checkCamera(rec, prev record) error {
	org, ok := rec.int("organization_id")
	if !ok {
		return invalid("organization_id must not be null")
	}
	o, ok := s.st.orgs[org]
	if !ok {
		return invalid("unknown organization_id %d", org)
	}
	if preset, ok := rec.int("preset_id"); !ok {
		return invalid("preset_id must not be null")
	} else if _, ok := s.st.presets[preset]; !ok {
		return invalid("unknown preset_id %d", preset)
	}
	if folder, ok := rec.int("folder_id"); ok {
		f, exists := s.st.folders[folder]
		if !exists {
			return invalid("unknown folder_id %d", folder)
		}
		if f["organization_id"] != org {
			return invalid("folder_id %d belongs to organization %v, not %d", folder, f["organization_id"], org)
		}
	}
	if d, ok := rec["dvr_depth"].(float64); ok && d < 0 {
		return invalid("dvr_depth must not be negative")
	}
	if limit, ok := o.int("camera_limit"); ok && (prev == nil || prev["organization_id"] != org) {
		if n := s.countCameras(org); int64(n) >= limit {
			return invalid("organization %d has reached its camera_limit of %d", org, limit)
		}
	}
	return nil
}

func (s *Server) countCameras(org int64) int {
	n := 0
	for _, c := range s.st.cameras {
		if c["organization_id"] == org {
			n++
		}
	}
	return n
}

// putCamera validates and stores a create (prev nil) or a merge, keeping
// the stats. It reports whether anything changed.
func (s *Server) putCamera(name string, patch, prev record) (record, bool, error) {
	var next record
	if prev == nil {
		next = s.newCamera(name).merged(patch)
	} else {
		next = prev.merged(patch)
		if _, moved := patch["organization_id"]; moved && next["organization_id"] != prev["organization_id"] {
			if _, given := patch["folder_id"]; !given {
				next["folder_id"] = nil // the old folder belongs to the old organization
			}
		}
	}
	if err := s.checkCamera(next, prev); err != nil {
		return nil, false, err
	}
	s.st.cameras[name] = next
	if prev == nil {
		s.countCamera(name, func(c *CameraStats) { c.Created++ })
		return next, true, nil
	}
	s.countCamera(name, func(c *CameraStats) { c.Updated++ })
	return next, !recordsEqual(prev, next), nil
}

func (s *Server) listCameras(req request) (int, any) {
	q := req.r.URL.Query()
	org, err := queryInt(q.Get("organization_id"))
	if err != nil {
		return badRequest(invalid("organization_id: %v", err))
	}
	agent := q.Get("agent")
	var items []record
	for _, name := range slices.Sorted(maps.Keys(s.st.cameras)) {
		c := s.st.cameras[name]
		switch {
		case org != 0 && c["organization_id"] != org,
			agent == "1" && c.str("agent_id") == "",
			agent == "0" && c.str("agent_id") != "",
			!s.visible(c, req.who):
			continue
		}
		items = append(items, s.cameraOut(c))
	}
	return listPage(req.r, items, "name", "title", "comment")
}

func (s *Server) getCamera(req request) (int, any) {
	name := req.r.PathValue("name")
	c, ok := s.st.cameras[name]
	if !ok || !s.visible(c, req.who) {
		return notFound("camera %q not found", name)
	}
	return http.StatusOK, s.cameraOut(c)
}

func (s *Server) createCamera(req request) (int, any) {
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	name, err := nameInput(in)
	if err != nil {
		return badRequest(err)
	}
	patch, err := cameraInput(in)
	if err != nil {
		return badRequest(err)
	}
	if _, exists := s.st.cameras[name]; exists {
		return badRequest(invalid("camera %q already exists: use PUT /cameras/%s to change it", name, name))
	}
	if name == "" {
		name = s.generateName(patch.str("title"))
	}
	c, _, err := s.putCamera(name, patch, nil)
	if err != nil {
		return badRequest(err)
	}
	s.stats.Writes++
	return http.StatusOK, s.cameraOut(c)
}

func (s *Server) updateCamera(req request) (int, any) {
	name := req.r.PathValue("name")
	prev, ok := s.st.cameras[name]
	if !ok {
		return notFound("camera %q not found", name)
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := cameraInput(in)
	if err != nil {
		return badRequest(err)
	}
	c, changed, err := s.putCamera(name, patch, prev)
	if err != nil {
		return badRequest(err)
	}
	if changed {
		s.stats.Writes++
	}
	return http.StatusOK, s.cameraOut(c)
}

func (s *Server) deleteCamera(req request) (int, any) {
	name := req.r.PathValue("name")
	if _, ok := s.st.cameras[name]; !ok {
		return notFound("camera %q not found", name)
	}
	delete(s.st.cameras, name)
	s.countCamera(name, func(c *CameraStats) { c.Deleted++ })
	s.stats.Writes++
	return success()
}

// importReply is exactly the documented shape of POST /cameras/import.
type importReply struct {
	Created int               `json:"created"`
	Updated int               `json:"updated"`
	Deleted int               `json:"deleted"`
	Errors  map[string]string `json:"errors"`
}

// importCameras upserts rows by name. A bad row gets an errors entry keyed
// by its 0-based index and the rest of the batch still applies.
func (s *Server) importCameras(req request) (int, any) {
	rows, err := importRows(req.r, req.body)
	if err != nil {
		return badRequest(err)
	}
	reject := rowErrors(req.r)
	reply := importReply{Errors: map[string]string{}}
	changed := false
	for i, row := range rows {
		created, rowChanged, err := s.importRow(row, reject)
		switch {
		case err != nil:
			reply.Errors[strconv.Itoa(i)] = err.Error()
		case created:
			reply.Created++
		default:
			reply.Updated++
		}
		changed = changed || rowChanged
	}
	if changed {
		s.stats.Writes++
	}
	return http.StatusOK, reply
}

func (s *Server) importRow(row map[string]json.RawMessage, reject map[string]string) (created, changed bool, err error) {
	if row == nil {
		return false, false, invalid("row must be an object")
	}
	name, err := nameInput(row)
	if err != nil {
		return false, false, err
	}
	if msg, ok := reject[name]; ok && name != "" {
		return false, false, invalid("%s", msg)
	}
	patch, err := cameraInput(row)
	if err != nil {
		return false, false, err
	}
	prev, exists := s.st.cameras[name]
	if !exists {
		if name == "" {
			name = s.generateName(patch.str("title"))
		}
	}
	_, changed, err = s.putCamera(name, patch, prev)
	return !exists, changed, err
}

// importRows decodes a JSON array or a CSV body. CSV is chosen by
// Content-Type (text/csv, text/plain), by ?type=csv, or by sniffing a body
// that does not start with '['.
func importRows(r *http.Request, body []byte) ([]map[string]json.RawMessage, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff")))
	isCSV := r.URL.Query().Get("type") == "csv" || ct == "text/csv" || ct == "text/plain" || ct == "application/csv" ||
		(ct != "application/json" && len(trimmed) > 0 && trimmed[0] != '[')
	if isCSV {
		return csvRows(body)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, invalid("import body must be a JSON array of camera objects or CSV")
	}
	rows := make([]map[string]json.RawMessage, len(raw))
	for i, item := range raw {
		var m map[string]json.RawMessage
		if json.Unmarshal(item, &m) == nil {
			rows[i] = m
		}
	}
	return rows, nil
}

// csvRows parses RFC 4180 CSV with a header line, tolerating a byte-order
// mark and CRLF. Empty cells leave the field unset; the other cells become
// JSON strings that field coercion turns into numbers and booleans.
func csvRows(body []byte) ([]map[string]json.RawMessage, error) {
	rd := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
	records, err := rd.ReadAll()
	if err != nil {
		return nil, invalid("csv: %v", err)
	}
	if len(records) == 0 {
		return nil, nil
	}
	header := records[0]
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(h))
	}
	rows := make([]map[string]json.RawMessage, 0, len(records)-1)
	for _, rec := range records[1:] {
		row := map[string]json.RawMessage{}
		for i, cell := range rec {
			if strings.TrimSpace(cell) == "" || header[i] == "" {
				continue
			}
			v, _ := json.Marshal(cell)
			row[header[i]] = v
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// visible reports whether who may see camera c: admins see everything,
// users see cameras in folders (or subfolders of folders) they were
// granted. A camera without folder_id lives in its organization's root.
func (s *Server) visible(c record, who caller) bool {
	if who.admin {
		return true
	}
	folder, ok := c.int("folder_id")
	if !ok {
		org, _ := c.int("organization_id")
		folder = s.rootFolder(org)
	}
	for depth := 0; folder != 0 && depth < 64; depth++ {
		if _, ok := s.st.perms[pair{folder, who.userID}]; ok {
			return true
		}
		folder, _ = s.st.folders[folder].int("parent_id")
	}
	return false
}
