package watchertest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

const key = "fake-key-42"

func ptr[T any](v T) *T { return &v }

type env struct {
	fake *watchertest.Server
	srv  *httptest.Server
	c    *watcherclient.Client
}

func newEnv(t *testing.T) env {
	t.Helper()
	fake := watchertest.New(watchertest.Options{APIKey: key, Logf: t.Logf})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	c, err := watcherclient.New(watcherclient.Config{BaseURL: srv.URL, APIKey: key, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return env{fake: fake, srv: srv, c: c}
}

// raw sends a request with the given headers and returns status and body.
func (e env) raw(t *testing.T, method, path, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	apiErr, ok := errors.AsType[*watcherclient.APIError](err)
	if !ok || apiErr.Status != status {
		t.Fatalf("error = %v, want HTTP %d", err, status)
	}
}

func mustImport(t *testing.T, e env, rows ...watcherclient.Camera) watcherclient.ImportResult {
	t.Helper()
	res, err := e.c.ImportCameras(t.Context(), rows)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name    string
		headers []string
		want    int
	}{
		{name: "no key", want: http.StatusForbidden},
		{name: "wrong key", headers: []string{"x-vsaas-api-key", "nope"}, want: http.StatusForbidden},
		{name: "key in other case", headers: []string{"X-VSAAS-API-KEY", key}, want: http.StatusOK},
		{name: "unknown session", headers: []string{"x-vsaas-session", "nope"}, want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.raw(t, "GET", "/vsaas/api/v2/cameras", "", tt.headers...)
			if status != tt.want {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.want)
			}
			if status == http.StatusForbidden && !strings.Contains(body, `"error_message":`) {
				t.Errorf("403 body %s lacks error_message", body)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, err := e.c.CreateUser(t.Context(), watcherclient.User{Login: "ann", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	folder := rootFolder(t, e, 1)
	if _, err := e.c.GrantFolder(t.Context(), 1, folder, watcherclient.FolderPermission{UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	mustImport(t, e, watcherclient.Camera{Name: "seen"})

	if status, _ := e.raw(t, "POST", "/vsaas/api/v2/auth/login", `{"login":"ann","password":"bad"}`); status != http.StatusForbidden {
		t.Errorf("bad password: status %d, want 403", status)
	}
	status, body := e.raw(t, "POST", "/vsaas/api/v2/auth/login", `{"login":"ann","password":"pw"}`)
	var login struct {
		Session string `json:"session"`
		ID      int64  `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &login); status != http.StatusOK || err != nil || login.Session == "" || login.ID != u.ID {
		t.Fatalf("login: %d %s", status, body)
	}
	if status, body := e.raw(t, "GET", "/vsaas/api/v2/cameras", "", "x-vsaas-session", login.Session); status != http.StatusOK || !strings.Contains(body, `"name":"seen"`) {
		t.Errorf("cameras with session: %d %s", status, body)
	}
	if status, _ := e.raw(t, "POST", "/vsaas/api/v2/cameras", `{}`, "x-vsaas-session", login.Session); status != http.StatusForbidden {
		t.Errorf("non-admin create: status %d, want 403", status)
	}
	e.fake.ExpireSessions()
	if status, _ := e.raw(t, "GET", "/vsaas/api/v2/cameras", "", "x-vsaas-session", login.Session); status != http.StatusForbidden {
		t.Errorf("expired session: status %d, want 403", status)
	}
}

func TestListsAreBareArraysWithPagingAndSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustImport(t, e,
		watcherclient.Camera{Name: "a", Title: "Front Door"},
		watcherclient.Camera{Name: "b", Comment: "back door"},
		watcherclient.Camera{Name: "c", Title: "Garage"},
		watcherclient.Camera{Name: "d-door"},
		watcherclient.Camera{Name: "e"},
	)
	tests := []struct {
		path string
		want string
	}{
		{path: "/vsaas/api/v2/users", want: `[]`},
		{path: "/vsaas/api/v2/cameras?limit=2&offset=1", want: `["b","c"]`},
		{path: "/vsaas/api/v2/cameras?offset=4", want: `["e"]`},
		{path: "/vsaas/api/v2/cameras?search=DOOR", want: `["a","b","d-door"]`},
		{path: "/vsaas/api/v2/cameras?search=door&limit=1&offset=1&trace=sql", want: `["b"]`},
		{path: "/vsaas/api/v2/cameras?organization_id=2", want: `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := e.raw(t, "GET", tt.path, "", "x-vsaas-api-key", key)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			var items []map[string]any
			if err := json.Unmarshal([]byte(body), &items); err != nil {
				t.Fatalf("reply %s is not a bare array: %v", body, err)
			}
			names := []string{}
			for _, it := range items {
				names = append(names, fmt.Sprint(it["name"]))
			}
			if got, _ := json.Marshal(names); tt.want != "[]" && string(got) != tt.want {
				t.Errorf("names = %s, want %s", got, tt.want)
			}
			if tt.want == "[]" && body != "[]" {
				t.Errorf("empty list = %s, want []", body)
			}
		})
	}
}

func TestCreateCamera(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	status, body := e.raw(t, "POST", "/vsaas/api/v2/cameras", `{"title":"First Camera","stream_url":"fake://clock"}`, "x-vsaas-api-key", key)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var got struct {
		Name           string   `json:"name"`
		Enabled        bool     `json:"enabled"`
		Static         bool     `json:"static"`
		DVRDepth       *float64 `json:"dvr_depth"`
		OrganizationID int64    `json:"organization_id"`
		PresetID       int64    `json:"preset_id"`
		Playback       struct {
			Token string `json:"token"`
		} `json:"playback_config"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^first\.camera-[0-9a-f]{10}$`).MatchString(got.Name) {
		t.Errorf("generated name %q does not match the Watcher pattern", got.Name)
	}
	if !got.Enabled || !got.Static || got.DVRDepth != nil || got.OrganizationID != 1 || got.PresetID != 1 || got.Playback.Token == "" {
		t.Errorf("defaults wrong: %s", body)
	}
	if !strings.Contains(body, `"dvr_depth":null`) {
		t.Errorf("dvr_depth is not null: %s", body)
	}

	_, err := e.c.CreateCamera(t.Context(), watcherclient.Camera{Name: got.Name})
	wantStatus(t, err, http.StatusBadRequest)
	_, err = e.c.CreateCamera(t.Context(), watcherclient.Camera{Name: "x", OrganizationID: ptr(int64(77))})
	wantStatus(t, err, http.StatusBadRequest)
}

func TestUpdateCameraIsPartial(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustImport(t, e, watcherclient.Camera{Name: "cam", Title: "Hall", StreamURL: "rtsp://a", Enabled: ptr(false)})

	got, err := e.c.UpdateCamera(t.Context(), "cam", map[string]any{"dvr_depth": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Hall" || got.StreamURL != "rtsp://a" || *got.Enabled || *got.DVRDepth != 3 {
		t.Errorf("PUT lost fields or did not apply: %+v", got)
	}
	_, err = e.c.UpdateCamera(t.Context(), "nope", map[string]any{"title": "x"})
	if !watcherclient.IsNotFound(err) {
		t.Errorf("PUT unknown camera: %v, want 404", err)
	}
	_, err = e.c.UpdateCamera(t.Context(), "cam", map[string]any{"enabled": "maybe"})
	wantStatus(t, err, http.StatusBadRequest)
	if err := e.c.DeleteCamera(t.Context(), "cam"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetCamera(t.Context(), "cam"); !watcherclient.IsNotFound(err) {
		t.Errorf("GET deleted camera: %v, want 404", err)
	}
}

func TestImportUpsertsByName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := mustImport(t, e, watcherclient.Camera{Name: "cam", Title: "one"})
	second := mustImport(t, e, watcherclient.Camera{Name: "cam", Title: "two"}, watcherclient.Camera{Title: "No Name"})
	third := mustImport(t, e, watcherclient.Camera{Name: "cam", Title: "two"})

	if first.Created != 1 || second.Created != 1 || second.Updated != 1 || third.Updated != 1 {
		t.Errorf("counts: first %+v second %+v third %+v", first, second, third)
	}
	cam, ok := e.fake.Camera("cam")
	if !ok || cam.Title != "two" {
		t.Errorf("camera after upsert = %+v", cam)
	}
	if got := e.fake.Stats().Cameras["cam"]; got != (watchertest.CameraStats{Created: 1, Updated: 2}) {
		t.Errorf("camera stats = %+v, want created 1 updated 2", got)
	}
	names := []string{}
	for _, c := range e.fake.Cameras() {
		names = append(names, c.Name)
	}
	if len(names) != 2 || !regexp.MustCompile(`^no\.name-[0-9a-f]{10}$`).MatchString(names[1]) {
		t.Errorf("cameras = %v, want cam and a generated name", names)
	}
}

func TestImportCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	csv := "name,title,enabled,static,ptz,thumbnails,dvr_depth,organization_id,comment\r\n" +
		"c1,\"Door, front\",0,true,1,http://snap/1.jpg,2.5,1,\r\n" +
		"c2,Yard,1,,0,1,,\"1\",\"says \"\"hi\"\"\"\r\n"
	tests := []struct {
		name    string
		headers []string
		query   string
	}{
		{name: "text/csv", headers: []string{"Content-Type", "text/csv"}},
		{name: "type=csv", headers: []string{"Content-Type", "application/octet-stream"}, query: "?type=csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fake.Reset()
			status, body := e.raw(t, "POST", "/vsaas/api/v2/cameras/import"+tt.query, csv, append(tt.headers, "x-vsaas-api-key", key)...)
			if status != http.StatusOK || body != `{"created":2,"updated":0,"deleted":0,"errors":{}}` {
				t.Fatalf("reply %d %s", status, body)
			}
			c1, _ := e.fake.Camera("c1")
			c2, _ := e.fake.Camera("c2")
			if c1.Title != "Door, front" || *c1.Enabled || !*c1.Static || !*c1.CanPTZ || !*c1.OnvifPTZ ||
				c1.ThumbnailsURL != "http://snap/1.jpg" || *c1.DVRDepth != 2.5 || c1.Comment != "" {
				t.Errorf("c1 = %+v", c1)
			}
			if !*c2.Enabled || !*c2.Static || *c2.CanPTZ || c2.DVRDepth != nil || c2.Comment != `says "hi"` {
				t.Errorf("c2 = %+v", c2)
			}
		})
	}
}

func TestImportInvalidRowDoesNotAbortBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rows := []watcherclient.Camera{
		{Name: "ok-1"},
		{Name: "bad", OrganizationID: ptr(int64(77))},
		{Name: "ok-2", PresetID: ptr(int64(1))},
		{Name: "bad-folder", FolderID: ptr(int64(99))},
	}
	res := mustImport(t, e, rows...)
	if res.Created != 2 {
		t.Errorf("created = %d, want 2", res.Created)
	}
	got, err := res.RowErrors(rows)
	if err != nil {
		t.Fatal(err)
	}
	if got[1] != "unknown organization_id 77" || got[3] != "unknown folder_id 99" || len(got) != 2 {
		t.Errorf("row errors = %v", got)
	}
	if _, ok := e.fake.Camera("bad"); ok {
		t.Error("invalid row was applied")
	}

	status, body := e.raw(t, "POST", "/vsaas/api/v2/cameras/import", `[{"name":"x","dvr_depth":"deep"},{"name":"y","enabled":"1","preset_id":"1"}]`,
		"x-vsaas-api-key", key, "Content-Type", "application/json")
	if want := `{"created":1,"updated":0,"deleted":0,"errors":{"0":"dvr_depth: must be a number, got \"deep\""}}`; status != 200 || body != want {
		t.Errorf("reply %d %s, want %s", status, body, want)
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, err := e.c.CreateUser(t.Context(), watcherclient.User{Login: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if ann.ID == 0 || ann.OrganizationID == nil || *ann.OrganizationID != 1 || !*ann.Enabled {
		t.Errorf("created user = %+v, want id, organization 1, enabled", ann)
	}
	if _, err := e.c.CreateUser(t.Context(), watcherclient.User{Login: "joanne", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.CreateUser(t.Context(), watcherclient.User{Login: "ann"})
	wantStatus(t, err, http.StatusBadRequest)
	_, err = e.c.CreateUser(t.Context(), watcherclient.User{Name: "no login"})
	wantStatus(t, err, http.StatusBadRequest)

	page, err := e.c.ListUsers(t.Context(), watcherclient.ListOptions{Search: "ann"})
	if err != nil || len(page) != 2 {
		t.Fatalf("search ann = %v, %v; want ann and joanne", page, err)
	}
	found, ok, err := e.c.FindUserByLogin(t.Context(), "ann")
	if err != nil || !ok || found.ID != ann.ID {
		t.Errorf("FindUserByLogin = %+v %v %v", found, ok, err)
	}
	up, err := e.c.UpdateUser(t.Context(), ann.ID, map[string]any{"name": "Ann Smith"})
	if err != nil || up.Name != "Ann Smith" || up.Login != "ann" {
		t.Errorf("partial PUT user = %+v, %v", up, err)
	}
	if u, _ := e.fake.User(2); u.Password != "pw" {
		t.Errorf("fake lost the password: %+v", u)
	}
	if err := e.c.DeleteUser(t.Context(), ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetUser(t.Context(), ann.ID); !watcherclient.IsNotFound(err) {
		t.Errorf("GET deleted user: %v", err)
	}
}

func rootFolder(t *testing.T, e env, org int64) int64 {
	t.Helper()
	folders, err := e.c.ListFolders(t.Context(), org)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.ParentID == nil {
			return f.ID
		}
	}
	t.Fatalf("organization %d has no root folder: %+v", org, folders)
	return 0
}

func TestFoldersAndPermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	org, err := e.c.CreateOrganization(ctx, watcherclient.Organization{Title: "ACME", CameraLimit: ptr(int64(5))})
	if err != nil {
		t.Fatal(err)
	}
	root := rootFolder(t, e, org.ID)
	if f, err := e.c.GetFolder(ctx, org.ID, root); err != nil || f.Title != "ACME" {
		t.Errorf("root folder = %+v, %v; want titled ACME", f, err)
	}
	flat, err := e.c.CreateFolder(ctx, org.ID, watcherclient.Folder{Title: "Flat 12"})
	if err != nil || flat.ParentID == nil || *flat.ParentID != root {
		t.Fatalf("folder = %+v, %v; want under root", flat, err)
	}
	user, err := e.c.CreateUser(ctx, watcherclient.User{Login: "bob", OrganizationID: &org.ID})
	if err != nil {
		t.Fatal(err)
	}
	mustImport(t, e, watcherclient.Camera{Name: "cam", OrganizationID: &org.ID, FolderID: &flat.ID})

	if _, err := e.c.GrantFolder(ctx, org.ID, flat.ID, watcherclient.FolderPermission{UserID: user.ID, CanViewDVR: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.FolderPermissions(org.ID, flat.ID); len(got) != 1 || !got[0].CanViewDVR {
		t.Errorf("permissions = %+v", got)
	}
	if cams, err := e.c.UserCameras(ctx, user.ID); err != nil || len(cams) != 1 {
		t.Errorf("user cameras = %+v, %v", cams, err)
	}
	_, err = e.c.GrantFolder(ctx, org.ID, flat.ID, watcherclient.FolderPermission{UserID: 999})
	wantStatus(t, err, http.StatusBadRequest)

	status, body := e.raw(t, "DELETE", fmt.Sprintf("/vsaas/api/v2/organizations/%d/folders/%d/users/%d", org.ID, flat.ID, user.ID), "", "x-vsaas-api-key", key)
	if status != http.StatusOK || !strings.Contains(body, `"can_view_dvr":true`) {
		t.Errorf("revoke reply %d %s, want the permission object", status, body)
	}
	if _, err := e.c.GetFolderPermission(ctx, org.ID, flat.ID, user.ID); !watcherclient.IsNotFound(err) {
		t.Errorf("permission after revoke: %v, want 404", err)
	}
	if err := e.c.RevokeFolder(ctx, org.ID, flat.ID, user.ID); !watcherclient.IsNotFound(err) {
		t.Errorf("second revoke: %v, want 404", err)
	}
	if _, err := e.c.GetFolder(ctx, 1, flat.ID); !watcherclient.IsNotFound(err) {
		t.Errorf("folder under the wrong organization: %v, want 404", err)
	}
}

func TestPresets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps, err := e.c.ListPresets(t.Context())
	if err != nil || len(ps) != 1 || !ps[0].IsDefault || ps[0].Title != "Default" {
		t.Fatalf("presets = %+v, %v", ps, err)
	}
	week, err := e.c.CreatePreset(t.Context(), watcherclient.Preset{Title: "Week", DVRDepth: ptr(7.0)})
	if err != nil || week.ID == 0 {
		t.Fatal(week, err)
	}
	cam, err := e.c.CreateCamera(t.Context(), watcherclient.Camera{Name: "c", PresetID: &week.ID})
	if err != nil || cam.Preset == nil || cam.Preset.Title != "Week" {
		t.Errorf("camera preset = %+v, %v", cam.Preset, err)
	}
	wantStatus(t, e.c.DeletePreset(t.Context(), 1), http.StatusBadRequest)
	wantStatus(t, e.c.DeletePreset(t.Context(), week.ID), http.StatusBadRequest) // in use
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     watchertest.Fault
		call      string // "import" or "list"
		wantErr   func(error) bool
		thenClean bool // the following request succeeds
	}{
		{
			name:      "503 once",
			fault:     watchertest.Fault{Status: 503, Count: 1},
			call:      "import",
			wantErr:   watcherclient.IsTransient,
			thenClean: true,
		},
		{
			name:    "429 with retry-after",
			fault:   watchertest.Fault{Status: 429, RetryAfter: 2},
			call:    "import",
			wantErr: func(err error) bool { return watcherclient.RetryAfter(err) == 2*time.Second },
		},
		{
			name:    "400 is permanent",
			fault:   watchertest.Fault{Status: 400, Body: `{"error_message":"nope"}`},
			call:    "import",
			wantErr: func(err error) bool { return !watcherclient.IsTransient(err) && strings.Contains(err.Error(), "nope") },
		},
		{
			name:      "path prefix spares other routes",
			fault:     watchertest.Fault{Status: 500, PathPrefix: "/cameras/import"},
			call:      "list",
			wantErr:   func(err error) bool { return err == nil },
			thenClean: true,
		},
		{
			name:      "connection reset",
			fault:     watchertest.Fault{Reset: true, Count: 1},
			call:      "list",
			wantErr:   watcherclient.IsTransient,
			thenClean: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.fake.SetFault(tt.fault)
			call := func() error {
				if tt.call == "list" {
					_, err := e.c.ListCameras(t.Context(), watcherclient.ListOptions{})
					return err
				}
				_, err := e.c.ImportCameras(t.Context(), []watcherclient.Camera{{Name: "cam"}})
				return err
			}
			if err := call(); !tt.wantErr(err) {
				t.Errorf("first call error = %v", err)
			}
			if tt.thenClean {
				if err := call(); err != nil {
					t.Errorf("second call: %v", err)
				}
			}
			if got := e.fake.Stats().Requests; got != 1+btoi(tt.thenClean) {
				t.Errorf("requests = %d", got)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFaultRowError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetFault(watchertest.Fault{RowError: map[string]string{"b": "stream_url unreachable"}})
	rows := []watcherclient.Camera{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	res := mustImport(t, e, rows...)
	got, err := res.RowErrors(rows)
	if err != nil || res.Created != 2 || len(got) != 1 || got[1] != "stream_url unreachable" {
		t.Errorf("result %+v, row errors %v, %v", res, got, err)
	}
	if _, ok := e.fake.Camera("b"); ok {
		t.Error("rejected row was applied")
	}
	e.fake.ClearFault()
	if res := mustImport(t, e, rows[1]); res.Created != 1 {
		t.Errorf("after ClearFault: %+v", res)
	}
}

func TestStatsAndReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustImport(t, e, watcherclient.Camera{Name: "cam", Title: "t"})
	mustImport(t, e, watcherclient.Camera{Name: "cam", Title: "t"}) // no change: not a write
	if _, err := e.c.UpdateCamera(t.Context(), "cam", map[string]any{"title": "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UpdateCamera(t.Context(), "cam", map[string]any{"title": "u"}); err != nil {
		t.Fatal(err)
	}
	e.raw(t, "GET", "/vsaas/api/v2/cameras", "") // 403, still a request

	st := e.fake.Stats()
	if st.Requests != 5 || st.Writes != 2 || st.Endpoints["POST /cameras/import"] != 2 || st.Endpoints["PUT /cameras/{name}"] != 2 {
		t.Errorf("stats = %+v", st)
	}
	if got := st.Cameras["cam"]; got != (watchertest.CameraStats{Created: 1, Updated: 3}) {
		t.Errorf("camera stats = %+v", got)
	}

	e.fake.DeleteAllCameras()
	if len(e.fake.Cameras()) != 0 || e.fake.Stats().Writes != 2 {
		t.Errorf("DeleteAllCameras: cameras %v, stats %+v", e.fake.Cameras(), e.fake.Stats())
	}

	if _, err := e.c.CreateUser(t.Context(), watcherclient.User{Login: "x"}); err != nil {
		t.Fatal(err)
	}
	status, _ := e.raw(t, "POST", "/_fake/reset", "")
	st = e.fake.Stats()
	if status != http.StatusOK || st.Requests != 0 || len(st.Cameras) != 0 || len(e.fake.Users()) != 0 || len(e.fake.Presets()) != 1 {
		t.Errorf("after reset: status %d, stats %+v", status, st)
	}
	if org, err := e.c.GetOrganization(t.Context(), 1); err != nil || !org.IsDefault {
		t.Errorf("default organization after reset: %+v, %v", org, err)
	}
}

func TestAdminPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	status, body := e.raw(t, "POST", "/_fake/faults", `{"status":503,"count":1,"latency":"1ms","path_prefix":"/users"}`)
	if status != http.StatusOK {
		t.Fatalf("set fault: %d %s", status, body)
	}
	_, err := e.c.ListUsers(t.Context(), watcherclient.ListOptions{})
	wantStatus(t, err, http.StatusServiceUnavailable)
	if status, _ := e.raw(t, "POST", "/_fake/faults", `{"rate":2}`); status != http.StatusBadRequest {
		t.Errorf("invalid fault accepted: %d", status)
	}
	e.raw(t, "DELETE", "/_fake/faults", "")

	mustImport(t, e, watcherclient.Camera{Name: "cam", AgentKey: "secret-agent"})
	_, body = e.raw(t, "GET", "/_fake/state", "")
	var state struct {
		Cameras []watcherclient.Camera       `json:"cameras"`
		Folders []watcherclient.Folder       `json:"folders"`
		Orgs    []watcherclient.Organization `json:"organizations"`
	}
	if err := json.Unmarshal([]byte(body), &state); err != nil || len(state.Cameras) != 1 || state.Cameras[0].AgentKey != "secret-agent" ||
		len(state.Folders) != 1 || len(state.Orgs) != 1 {
		t.Errorf("state = %s (%v)", body, err)
	}
	_, body = e.raw(t, "GET", "/_fake/stats", "")
	var st watchertest.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Cameras["cam"].Created != 1 {
		t.Errorf("stats = %s (%v)", body, err)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := `[{"name":"x","comment":"` + strings.Repeat("a", 33<<20) + `"}]`
	status, body := e.raw(t, "POST", "/vsaas/api/v2/cameras/import", big, "x-vsaas-api-key", key, "Content-Type", "application/json")
	if status != http.StatusBadRequest || !strings.Contains(body, "larger than") {
		t.Errorf("status %d %.200s, want 400", status, body)
	}
}

func TestConcurrentImports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			rows := []watcherclient.Camera{{Name: fmt.Sprintf("cam-%d", i)}, {Name: "shared", Title: fmt.Sprint(i)}}
			if _, err := e.c.ImportCameras(t.Context(), rows); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(e.fake.Cameras()); got != 9 {
		t.Errorf("cameras = %d, want 9", got)
	}
	if st := e.fake.Stats().Cameras["shared"]; st.Created != 1 || st.Updated != 7 {
		t.Errorf("shared stats = %+v", st)
	}
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if status, _ := e.raw(t, "GET", "/vsaas/api/v2/nope", ""); status != http.StatusForbidden {
		t.Errorf("unauthenticated unknown route: %d, want 403", status)
	}
	status, body := e.raw(t, "GET", "/vsaas/api/v2/nope", "", "x-vsaas-api-key", key)
	if status != http.StatusNotFound || !bytes.Contains([]byte(body), []byte("error_message")) {
		t.Errorf("unknown route: %d %s", status, body)
	}
}
