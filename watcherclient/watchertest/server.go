// Package watchertest is an in-process fake of the Flussonic Watcher Admin
// API v2, faithful to the points listed in watcher-api.md §9, so that the
// client and the bridge can be tested over real HTTP without a Watcher. It
// also injects faults (errors, latency, dropped connections, rejected import
// rows) and counts what was asked of it.
//
// Serve it with httptest.NewServer(watchertest.New(opts).Handler()) or with
// the fakewatcher binary. Admin paths under /_fake/ need no API key.
package watchertest

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// maxBody is the largest request body accepted; larger bodies get 400, as a
// real Watcher behind its default proxy limits would refuse them.
const maxBody = 32 << 20

// Options configures a Server.
type Options struct {
	// APIKey is the system key accepted in x-vsaas-api-key. When empty, no
	// system key is accepted and only sessions authenticate.
	APIKey string
	// Logf, when set, receives a line for injected faults and resets.
	Logf func(format string, args ...any)
}

// Server is the fake Watcher. All methods are safe for concurrent use.
type Server struct {
	apiKey  string
	logf    func(format string, args ...any)
	handler http.Handler

	mu    sync.Mutex
	st    *state
	stats Stats
	fault faultState
}

// pair keys relations: {folder, user} permissions, {org, user} members and
// {org, preset} links.
type pair struct{ a, b int64 }

// state is everything Reset throws away.
type state struct {
	cameras    map[string]record
	users      map[int64]record
	presets    map[int64]record
	orgs       map[int64]record
	folders    map[int64]record
	perms      map[pair]record // {folder, user}
	members    map[pair]record // {org, user}
	orgPresets map[pair]int64  // {org, preset} -> link id
	sessions   map[string]int64
	next       map[string]int64 // last id handed out, per kind
}

// Default ids of a fresh Watcher.
const (
	defaultOrgID    = 1
	defaultPresetID = 1
	defaultFolderID = 1
)

func newState() *state {
	return &state{
		cameras: map[string]record{},
		users:   map[int64]record{},
		presets: map[int64]record{defaultPresetID: {
			"id": int64(defaultPresetID), "title": "Default", "dvr_depth": nil, "is_adjustable": true,
			"is_default": true, "is_deleted": false,
		}},
		orgs: map[int64]record{defaultOrgID: {
			"id": int64(defaultOrgID), "title": "Default", "is_default": true,
			"camera_limit": nil, "user_limit": nil, "dvr_limit": nil, "owner_id": nil,
		}},
		folders: map[int64]record{defaultFolderID: {
			"id": int64(defaultFolderID), "organization_id": int64(defaultOrgID), "parent_id": nil, "title": "Default",
		}},
		perms:      map[pair]record{},
		members:    map[pair]record{},
		orgPresets: map[pair]int64{},
		sessions:   map[string]int64{},
		next:       map[string]int64{"preset": defaultPresetID, "org": defaultOrgID, "folder": defaultFolderID},
	}
}

func (st *state) nextID(kind string) int64 {
	st.next[kind]++
	return st.next[kind]
}

// New returns a fake Watcher with fresh state: the Default organization
// (id 1, with root folder 1) and the Default preset (id 1).
func New(opts Options) *Server {
	s := &Server{apiKey: opts.APIKey, logf: opts.Logf, st: newState(), stats: newStats()}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	api := http.NewServeMux()
	s.routes(api)
	mux := http.NewServeMux()
	mux.Handle(watcherclient.APIPrefix+"/", s.faults(api))
	mux.HandleFunc("GET /_fake/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /_fake/state", s.dumpState)
	mux.HandleFunc("POST /_fake/faults", s.postFault)
	mux.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFault()
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	})
	mux.HandleFunc("POST /_fake/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	})
	mux.HandleFunc("DELETE /_fake/sessions", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireSessions()
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	})
	s.handler = mux
	return s
}

// Handler serves the API under /vsaas/api/v2/ and the admin paths under
// /_fake/.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Reset brings the fake back to a fresh Watcher, as if restored from an
// empty backup, and zeroes the stats. The current fault stays; use
// ClearFault for that.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = newState()
	s.stats = newStats()
	s.logf("fakewatcher: state reset")
}

// DeleteAllCameras wipes the cameras only, keeping users, folders and
// stats, to simulate cameras lost on the Watcher side.
func (s *Server) DeleteAllCameras() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.cameras = map[string]record{}
}

// ExpireSessions invalidates every session minted by POST /auth/login, so
// tests can check how a client handles the 403 that follows.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.sessions = map[string]int64{}
}

// Camera returns the stored camera as the API would return it.
func (s *Server) Camera(name string) (watcherclient.Camera, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.cameras[name]
	if !ok {
		return watcherclient.Camera{}, false
	}
	return convert[watcherclient.Camera](s.cameraOut(rec)), true
}

// Cameras returns every camera, sorted by name.
func (s *Server) Cameras() []watcherclient.Camera {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []watcherclient.Camera{}
	for _, name := range slices.Sorted(maps.Keys(s.st.cameras)) {
		out = append(out, convert[watcherclient.Camera](s.cameraOut(s.st.cameras[name])))
	}
	return out
}

// Users returns every user sorted by id, passwords included so tests can
// check what was set.
func (s *Server) Users() []watcherclient.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []watcherclient.User{}
	for _, id := range slices.Sorted(maps.Keys(s.st.users)) {
		out = append(out, convert[watcherclient.User](s.st.users[id]))
	}
	return out
}

// User returns one user, password included.
func (s *Server) User(id int64) (watcherclient.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.users[id]
	if !ok {
		return watcherclient.User{}, false
	}
	return convert[watcherclient.User](rec), true
}

// Presets returns every preset sorted by id, the Default one included.
func (s *Server) Presets() []watcherclient.Preset {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []watcherclient.Preset{}
	for _, id := range slices.Sorted(maps.Keys(s.st.presets)) {
		out = append(out, convert[watcherclient.Preset](s.st.presets[id]))
	}
	return out
}

// FolderPermissions returns who may see a folder, sorted by user id; nil
// when the folder does not exist in org.
func (s *Server) FolderPermissions(org, folder int64) []watcherclient.FolderPermission {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.st.folders[folder]; !ok || f["organization_id"] != org {
		return nil
	}
	out := []watcherclient.FolderPermission{}
	for _, p := range s.folderPerms(folder) {
		out = append(out, convert[watcherclient.FolderPermission](p))
	}
	return out
}

// convert re-decodes a stored record into a client type, which also keeps
// the fake honest about what the client can parse.
func convert[T any](rec record) T {
	var out T
	b, err := json.Marshal(rec)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		panic(fmt.Sprintf("watchertest: stored record does not decode: %v", err)) // programmer error
	}
	return out
}

// access is who may call a route.
type access int

const (
	public    access = iota // no credentials (login)
	anyCaller               // system key, user key or session
	adminOnly               // system key or an admin user
)

// caller is the authenticated identity of a request.
type caller struct {
	admin  bool
	userID int64 // 0 for the system key
}

// request is what a route handler gets; it runs with s.mu held.
type request struct {
	r    *http.Request
	body []byte
	who  caller
}

type handlerFunc func(req request) (int, any)

// route registers h for pattern ("METHOD /path" relative to the API
// prefix), adding body reading, stats, authentication and JSON encoding.
func (s *Server) route(mux *http.ServeMux, pattern string, a access, h handlerFunc) {
	full := watcherclient.APIPrefix + pattern
	if method, path, ok := strings.Cut(pattern, " "); ok {
		full = method + " " + watcherclient.APIPrefix + path
	}
	mux.HandleFunc(full, func(w http.ResponseWriter, r *http.Request) {
		body, bodyErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		s.mu.Lock()
		s.stats.Endpoints[pattern]++
		status, out := s.serve(r, a, h, body, bodyErr)
		s.mu.Unlock()
		writeJSON(w, status, out)
	})
}

func (s *Server) serve(r *http.Request, a access, h handlerFunc, body []byte, bodyErr error) (int, any) {
	who, err := s.authenticate(r)
	switch {
	case a == public:
	case err != nil:
		return http.StatusForbidden, err
	case a == adminOnly && !who.admin:
		return forbidden("Forbidden", "this route needs administrator rights")
	}
	if _, ok := errors.AsType[*http.MaxBytesError](bodyErr); ok {
		return badRequest(invalid("request body is larger than %d MiB", maxBody>>20))
	}
	if bodyErr != nil {
		return badRequest(invalid("read body: %v", bodyErr))
	}
	return h(request{r: r, body: body, who: who})
}

// authenticate checks, in order, the system key, a user key with
// x-vsaas-user, and a session. Failures are 403 bodies, never 401.
func (s *Server) authenticate(r *http.Request) (caller, error) {
	key := r.Header.Get("x-vsaas-api-key")
	login := r.Header.Get("x-vsaas-user")
	session := r.Header.Get("x-vsaas-session")
	switch {
	case key != "" && login == "":
		if s.apiKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) == 1 {
			return caller{admin: true}, nil
		}
		return caller{}, apiError("WrongApikey", "wrong API key in x-vsaas-api-key")
	case key != "":
		for id, u := range s.st.users {
			if u.str("login") == login && u.str("apikey") != "" &&
				subtle.ConstantTimeCompare([]byte(key), []byte(u.str("apikey"))) == 1 && u.bool("enabled") {
				return caller{admin: u.bool("is_admin"), userID: id}, nil
			}
		}
		return caller{}, apiError("WrongApikey", "wrong user API key for x-vsaas-user")
	case session != "":
		id, ok := s.st.sessions[session]
		if u, exists := s.st.users[id]; ok && exists && u.bool("enabled") {
			return caller{admin: u.bool("is_admin"), userID: id}, nil
		}
		return caller{}, apiError("Forbidden", "session is unknown or expired: log in again")
	}
	return caller{}, apiError("Forbidden", "no credentials: send x-vsaas-api-key or x-vsaas-session")
}

// errorBody is Watcher's error reply shape (the one CODE clients parse).
type errorBody struct {
	Code    string `json:"error"`
	Message string `json:"error_message"`
}

func (e errorBody) Error() string { return e.Message }

func apiError(code, msg string) errorBody {
	return errorBody{Code: code, Message: msg}
}

func forbidden(code, msg string) (int, any) {
	return http.StatusForbidden, apiError(code, msg)
}

func notFound(format string, args ...any) (int, any) {
	return http.StatusNotFound, apiError("NotFound", fmt.Sprintf(format, args...))
}

// badRequest answers a validation failure with 400 (never 409 or 422).
func badRequest(err error) (int, any) {
	return http.StatusBadRequest, apiError("ValidationError", err.Error())
}

func success() (int, any) {
	return http.StatusOK, map[string]bool{"success": true}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError("ApplicationError", err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// wrote counts a mutating request that changed something, once per request.
func (s *Server) wrote(before, after any) {
	if !reflect.DeepEqual(before, after) {
		s.stats.Writes++
	}
}

// pathID parses an integer path value; callers answer 404 when !ok, like
// Watcher does for an id that matches nothing.
func pathID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil
}

// listPage applies the search filter, then offset, then limit, and always
// returns a non-nil slice so the reply is a bare JSON array.
func listPage(r *http.Request, items []record, searchIn ...string) (int, any) {
	q := r.URL.Query()
	if term := strings.ToLower(q.Get("search")); term != "" {
		items = slices.DeleteFunc(items, func(rec record) bool {
			for _, f := range searchIn {
				if strings.Contains(strings.ToLower(fmt.Sprint(rec[f])), term) && rec[f] != nil {
					return false
				}
			}
			return true
		})
	}
	offset, err := queryInt(q.Get("offset"))
	if err != nil {
		return badRequest(invalid("offset: %v", err))
	}
	limit, err := queryInt(q.Get("limit"))
	if err != nil {
		return badRequest(invalid("limit: %v", err))
	}
	items = items[min(int(offset), len(items)):]
	if limit > 0 && int(limit) < len(items) {
		items = items[:limit]
	}
	if items == nil {
		items = []record{}
	}
	return http.StatusOK, items
}

func queryInt(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("must be a non-negative integer, got %q", v)
	}
	return n, nil
}

// sortedByID returns the values of m ordered by their id key.
func sortedByID(m map[int64]record) []record {
	out := make([]record, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

func byInt(field string) func(a, b record) int {
	return func(a, b record) int {
		x, _ := a.int(field)
		y, _ := b.int(field)
		return cmp.Compare(x, y)
	}
}

func (s *Server) dumpState(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cams, orgs, folders, perms, links, members []record
	for _, name := range slices.Sorted(maps.Keys(s.st.cameras)) {
		cams = append(cams, s.cameraOut(s.st.cameras[name]))
	}
	for _, o := range sortedByID(s.st.orgs) {
		orgs = append(orgs, s.orgOut(o))
	}
	for _, f := range sortedByID(s.st.folders) {
		folders = append(folders, s.folderOut(f))
	}
	for k, p := range s.st.perms {
		rec := p.clone()
		rec["folder_id"] = k.a
		rec["organization_id"] = s.st.folders[k.a]["organization_id"]
		perms = append(perms, rec)
	}
	slices.SortFunc(perms, func(a, b record) int {
		return cmp.Or(byInt("folder_id")(a, b), byInt("user_id")(a, b))
	})
	for k := range s.st.orgPresets {
		links = append(links, s.linkOut(k))
	}
	slices.SortFunc(links, byInt("id"))
	for _, k := range slices.SortedFunc(maps.Keys(s.st.members), func(x, y pair) int {
		return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b))
	}) {
		members = append(members, s.st.members[k])
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"cameras":                cams,
		"users":                  sortedByID(s.st.users),
		"presets":                sortedByID(s.st.presets),
		"organizations":          orgs,
		"folders":                folders,
		"folder_permissions":     perms,
		"organization_presets":   links,
		"organization_users":     members,
		"active_sessions":        len(s.st.sessions),
		"camera_names_generated": s.st.next["camera"],
	})
}
