package watcherclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/watcherclient"
)

const testKey = "s3cr3t-key-0123456789"

func ptr[T any](v T) *T { return &v }

// seen is what a test server observed about the one request it got.
type seen struct {
	method, path, query, body string
	header                    http.Header
}

// newServer serves reply for every request and hands the first request it
// sees to the returned channel.
func newServer(t *testing.T, status int, reply string) (*watcherclient.Client, <-chan seen) {
	t.Helper()
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, body: string(b), header: r.Header.Clone()}:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL), got
}

func newClient(t *testing.T, url string) *watcherclient.Client {
	t.Helper()
	c, err := watcherclient.New(watcherclient.Config{BaseURL: url, APIKey: testKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewValidatesURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give    string
		wantErr string
		wantURL string
	}{
		{give: "https://watcher.example", wantURL: "https://watcher.example"},
		{give: "http://watcher.example:8080/base/", wantURL: "http://watcher.example:8080/base"},
		{give: "", wantErr: "--watcher-url"},
		{give: "watcher.example", wantErr: "--watcher-url"},
		{give: "ftp://watcher.example", wantErr: "scheme must be http or https"},
		{give: "http://", wantErr: "host is missing"},
		{give: "https://admin:pw@watcher.example", wantErr: "--watcher-url"},
		{give: "https://watcher.example/?x=1", wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			c, err := watcherclient.New(watcherclient.Config{BaseURL: tt.give, APIKey: "k"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) error = %v, want containing %q", tt.give, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pw@") {
					t.Errorf("error leaks the URL password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.BaseURL() != tt.wantURL {
				t.Errorf("BaseURL() = %q, want %q", c.BaseURL(), tt.wantURL)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(ctx context.Context, c *watcherclient.Client) error
		reply     string
		wantRoute string // "METHOD escaped-path"
		wantQuery string
		wantBody  string // JSON, compared semantically; "" means no body
	}{
		{
			name: "import",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.ImportCameras(ctx, []watcherclient.Camera{{Name: "a", Enabled: ptr(false), DVRDepth: ptr(3.0), ExternalID: "x"}})
				return err
			},
			reply:     `{"created":1,"updated":0,"deleted":0,"errors":{}}`,
			wantRoute: "POST /vsaas/api/v2/cameras/import",
			wantBody:  `[{"name":"a","enabled":false,"dvr_depth":3,"extrenal_id":"x"}]`,
		},
		{
			name: "create camera",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.CreateCamera(ctx, watcherclient.Camera{Title: "First Camera", StreamURL: "fake://clock"})
				return err
			},
			reply:     `{"name":"first.camera-543bf23382"}`,
			wantRoute: "POST /vsaas/api/v2/cameras",
			wantBody:  `{"title":"First Camera","stream_url":"fake://clock"}`,
		},
		{
			name: "get camera escapes name",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.GetCamera(ctx, "a b/c")
				return err
			},
			reply:     `{}`,
			wantRoute: "GET /vsaas/api/v2/cameras/a%20b%2Fc",
		},
		{
			name: "update camera sends fields as is",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.UpdateCamera(ctx, "cam", map[string]any{"dvr_depth": 3})
				return err
			},
			reply:     `{"name":"cam","dvr_depth":3}`,
			wantRoute: "PUT /vsaas/api/v2/cameras/cam",
			wantBody:  `{"dvr_depth":3}`,
		},
		{
			name:      "delete camera",
			call:      func(ctx context.Context, c *watcherclient.Client) error { return c.DeleteCamera(ctx, "cam") },
			reply:     `{"success":true}`,
			wantRoute: "DELETE /vsaas/api/v2/cameras/cam",
		},
		{
			name: "list cameras",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.ListCameras(ctx, watcherclient.ListOptions{Search: "door", Limit: 10, Offset: 20, OrganizationID: 2})
				return err
			},
			reply:     `[]`,
			wantRoute: "GET /vsaas/api/v2/cameras",
			wantQuery: "limit=10&offset=20&organization_id=2&search=door",
		},
		{
			name: "create preset sends null depth",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.CreatePreset(ctx, watcherclient.Preset{Title: "Week"})
				return err
			},
			reply:     `{"id":2}`,
			wantRoute: "POST /vsaas/api/v2/presets",
			wantBody:  `{"title":"Week","dvr_depth":null}`,
		},
		{
			name: "create user",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.CreateUser(ctx, watcherclient.User{Login: "ann", Email: "a@example.com", OrganizationID: ptr(int64(2))})
				return err
			},
			reply:     `{"id":5}`,
			wantRoute: "POST /vsaas/api/v2/users",
			wantBody:  `{"login":"ann","notification_email":"a@example.com","organization_id":2}`,
		},
		{
			name: "update organization",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.UpdateOrganization(ctx, 4, map[string]any{"camera_limit": 10})
				return err
			},
			reply:     `{"id":4}`,
			wantRoute: "PUT /vsaas/api/v2/organizations/4",
			wantBody:  `{"camera_limit":10}`,
		},
		{
			name: "create folder",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.CreateFolder(ctx, 4, watcherclient.Folder{Title: "Flat 12"})
				return err
			},
			reply:     `{"id":9}`,
			wantRoute: "POST /vsaas/api/v2/organizations/4/folders",
			wantBody:  `{"parent_id":null,"title":"Flat 12"}`,
		},
		{
			name: "grant folder",
			call: func(ctx context.Context, c *watcherclient.Client) error {
				_, err := c.GrantFolder(ctx, 4, 9, watcherclient.FolderPermission{UserID: 5, CanViewDVR: true})
				return err
			},
			reply:     `{"user_id":5,"can_view_dvr":true,"can_use_ptz":false}`,
			wantRoute: "POST /vsaas/api/v2/organizations/4/folders/9/users",
			wantBody:  `{"user_id":5,"can_view_dvr":true,"can_use_ptz":false}`,
		},
		{
			name:      "revoke folder",
			call:      func(ctx context.Context, c *watcherclient.Client) error { return c.RevokeFolder(ctx, 4, 9, 5) },
			reply:     `{"user_id":5,"can_view_dvr":true,"can_use_ptz":false}`,
			wantRoute: "DELETE /vsaas/api/v2/organizations/4/folders/9/users/5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, seenc := newServer(t, http.StatusOK, tt.reply)
			if err := tt.call(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			got := <-seenc
			if route := got.method + " " + got.path; route != tt.wantRoute {
				t.Errorf("route = %q, want %q", route, tt.wantRoute)
			}
			if got.query != tt.wantQuery {
				t.Errorf("query = %q, want %q", got.query, tt.wantQuery)
			}
			assertJSONEqual(t, got.body, tt.wantBody)
			wantHeaders := map[string]string{"X-Vsaas-Api-Key": testKey, "Accept": "application/json", "User-Agent": "watcherbridge"}
			if tt.wantBody != "" {
				wantHeaders["Content-Type"] = "application/json"
			}
			for k, v := range wantHeaders {
				if got.header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, got.header.Get(k), v)
				}
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	if want == "" || got == "" {
		if got != want {
			t.Errorf("body = %q, want %q", got, want)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("body = %s, want %s", gb, wb)
	}
}

func TestSetAPIKey(t *testing.T) {
	t.Parallel()
	c, seenc := newServer(t, http.StatusOK, `[]`)
	c.SetAPIKey("rotated")
	if _, err := c.ListPresets(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k := (<-seenc).header.Get("x-vsaas-api-key"); k != "rotated" {
		t.Errorf("key sent = %q, want the rotated one", k)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		status         int
		retryAfter     string
		body           string
		wantTransient  bool
		wantNotFound   bool
		wantRetryAfter time.Duration
		wantText       string
	}{
		{name: "400", status: 400, body: `{"error_message":"bad dvr_depth"}`, wantText: `HTTP 400: {"error_message":"bad dvr_depth"}`},
		{name: "403", status: 403, body: `{"error":"WrongApikey"}`, wantText: "check --watcher-api-key"},
		{name: "404", status: 404, wantNotFound: true, wantText: "HTTP 404"},
		{name: "408", status: 408, wantTransient: true},
		{name: "429 seconds", status: 429, retryAfter: "7", wantTransient: true, wantRetryAfter: 7 * time.Second, wantText: "retry after 7s"},
		{name: "503 date", status: 503, retryAfter: time.Now().Add(time.Minute).UTC().Format(http.TimeFormat), wantTransient: true, wantRetryAfter: time.Minute},
		{name: "500", status: 500, wantTransient: true},
		{name: "key echoed", status: 500, body: "bad key " + testKey, wantTransient: true, wantText: "[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			_, err := newClient(t, srv.URL).ImportCameras(t.Context(), nil)

			apiErr, ok := errors.AsType[*watcherclient.APIError](err)
			if !ok {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if apiErr.Status != tt.status {
				t.Errorf("Status = %d, want %d", apiErr.Status, tt.status)
			}
			if got := watcherclient.IsTransient(err); got != tt.wantTransient {
				t.Errorf("IsTransient = %v, want %v", got, tt.wantTransient)
			}
			if got := watcherclient.IsNotFound(err); got != tt.wantNotFound {
				t.Errorf("IsNotFound = %v, want %v", got, tt.wantNotFound)
			}
			if got := watcherclient.RetryAfter(err); got < tt.wantRetryAfter-time.Second || got > tt.wantRetryAfter {
				t.Errorf("RetryAfter = %s, want about %s", got, tt.wantRetryAfter)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), "watcher import cameras: POST /vsaas/api/v2/cameras/import: ") {
				t.Errorf("error %q lacks op, method and path", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the API key: %q", err)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	dropped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[")
			conn.Close()
		}
	}))
	t.Cleanup(dropped.Close)
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>hello</html>")
	}))
	t.Cleanup(notJSON.Close)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name          string
		url           string
		ctx           context.Context
		timeout       time.Duration
		wantTransient bool
	}{
		{name: "connection refused", url: closedURL, ctx: t.Context(), wantTransient: true},
		{name: "per-request timeout", url: slow.URL, ctx: t.Context(), timeout: 50 * time.Millisecond, wantTransient: true},
		{name: "reply cut short", url: dropped.URL, ctx: t.Context(), wantTransient: true},
		{name: "caller cancelled", url: slow.URL, ctx: cancelled, wantTransient: false},
		{name: "undecodable 200", url: notJSON.URL, ctx: t.Context(), wantTransient: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := watcherclient.New(watcherclient.Config{BaseURL: tt.url, APIKey: testKey, Timeout: tt.timeout})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListCameras(tt.ctx, watcherclient.ListOptions{})
			if err == nil {
				t.Fatal("want an error")
			}
			if got := watcherclient.IsTransient(err); got != tt.wantTransient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, tt.wantTransient)
			}
			if !strings.HasPrefix(err.Error(), "watcher list cameras: ") {
				t.Errorf("error %q lacks the op", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the API key: %q", err)
			}
		})
	}
}

func TestTolerantDecoding(t *testing.T) {
	t.Parallel()
	c, _ := newServer(t, http.StatusOK, readTestdata(t, "camera_loose.json"))
	got, err := c.GetCamera(t.Context(), "cam-1")
	if err != nil {
		t.Fatal(err)
	}
	want := watcherclient.Camera{
		Name: "cam-1", Title: "Front door", StreamURL: "rtsp://10.0.0.5/main",
		Enabled: ptr(true), Static: ptr(false), CanPTZ: ptr(true), OnvifPTZ: ptr(false),
		OrganizationID: ptr(int64(7)), PresetID: ptr(int64(3)), DVRDepth: ptr(2.5),
		AbonentSign: "123456789", ExternalID: "ext-9",
		Preset: &watcherclient.Preset{ID: 3, Title: "Week", DVRDepth: ptr(7.0), IsAdjustable: ptr(true)},
	}
	assertSameJSON(t, got, want)
}

func TestImportResultDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		want watcherclient.ImportResult
	}{
		{give: "import_legacy.json", want: watcherclient.ImportResult{Created: 2, Updated: 1, Errors: map[string]json.RawMessage{}}},
		{give: "import_current.json", want: watcherclient.ImportResult{Created: 2, Updated: 1, Errors: map[string]json.RawMessage{
			"1": json.RawMessage(`"unknown organization_id 77"`), "cam-c": json.RawMessage(`{"error_message": "bad stream_url"}`),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			var got watcherclient.ImportResult
			if err := json.Unmarshal([]byte(readTestdata(t, tt.give)), &got); err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, got, tt.want)
		})
	}
}

func assertSameJSON(t *testing.T, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("got  %s\nwant %s", g, w)
	}
}

func TestRowErrors(t *testing.T) {
	t.Parallel()
	rows := []watcherclient.Camera{{Name: "cam-a"}, {Name: "cam-b"}, {Name: "cam-c"}, {Name: "1"}}
	tests := []struct {
		name    string
		give    string // errors object
		want    map[int]string
		wantErr bool
	}{
		{name: "empty", give: `{}`, want: map[int]string{}},
		{name: "by index", give: `{"2":"unknown organization_id 77"}`, want: map[int]string{2: "unknown organization_id 77"}},
		{name: "by name", give: `{"cam-b":{"error_message":"bad  stream_url"}}`, want: map[int]string{1: "bad stream_url"}},
		{name: "name inside entry", give: `[{"name":"cam-a","error":"dup"}]`, want: map[int]string{0: "dup"}},
		{name: "list value", give: `{"0":["bad title","bad url"]}`, want: map[int]string{0: "bad title; bad url"}},
		{name: "index out of range", give: `{"9":"x"}`, wantErr: true},
		{name: "unknown name", give: `{"cam-z":"x"}`, wantErr: true},
		{name: "ambiguous index and name", give: `{"1":"x"}`, wantErr: true},
		{name: "not an index", give: `{"01":"x"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var res watcherclient.ImportResult
			if err := json.Unmarshal([]byte(`{"created":0,"errors":`+tt.give+`}`), &res); err != nil {
				t.Fatal(err)
			}
			got, err := res.RowErrors(rows)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RowErrors error = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				assertSameJSON(t, got, tt.want)
			}
		})
	}
}

// pagedUsers serves GET /users with Watcher's semantics: case-insensitive
// substring search, then offset, then limit.
func pagedUsers(t *testing.T, logins []string) *watcherclient.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var out []map[string]any
		for i, l := range logins {
			if strings.Contains(strings.ToLower(l), strings.ToLower(q.Get("search"))) {
				out = append(out, map[string]any{"id": i + 1, "login": l, "name": l})
			}
		}
		out = page(out, q.Get("offset"), q.Get("limit"))
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL)
}

func page[T any](items []T, offset, limit string) []T {
	var o, l int
	json.Unmarshal([]byte(offset), &o)
	json.Unmarshal([]byte(limit), &l)
	items = items[min(o, len(items)):]
	if l > 0 && l < len(items) {
		items = items[:l]
	}
	if items == nil {
		items = []T{}
	}
	return items
}

func TestFindUserByLogin(t *testing.T) {
	t.Parallel()
	var logins []string
	for range 150 { // more than one page of substring matches before the exact one
		logins = append(logins, "xann"+strings.Repeat("x", len(logins)%7)+string(rune('a'+len(logins)%26)))
	}
	logins = append(logins, "joanne", "ANN", "ann", "annabel")
	c := pagedUsers(t, logins)

	tests := []struct {
		give      string
		wantFound bool
		wantID    int64
	}{
		{give: "ann", wantFound: true, wantID: 153},
		{give: "joanne", wantFound: true, wantID: 151},
		{give: "jo", wantFound: false},
		{give: "", wantFound: false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			u, found, err := c.FindUserByLogin(t.Context(), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.wantFound || u.ID != tt.wantID || (found && u.Login != tt.give) {
				t.Errorf("FindUserByLogin(%q) = %+v, %v; want id %d, found %v", tt.give, u, found, tt.wantID, tt.wantFound)
			}
		})
	}
}

func TestAllCamerasPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		total, pageSize, wantPages int
	}{
		{total: 7, pageSize: 3, wantPages: 3},
		{total: 6, pageSize: 3, wantPages: 3}, // the last, empty page proves the end
		{total: 0, pageSize: 3, wantPages: 1},
		{total: 2, pageSize: 0, wantPages: 1}, // default page size
	}
	for _, tt := range tests {
		t.Run(strings.Repeat("c", tt.total), func(t *testing.T) {
			t.Parallel()
			var pages atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pages.Add(1)
				var cams []watcherclient.Camera
				for i := range tt.total {
					cams = append(cams, watcherclient.Camera{Name: "cam-" + string(rune('a'+i))})
				}
				json.NewEncoder(w).Encode(page(cams, r.URL.Query().Get("offset"), r.URL.Query().Get("limit")))
			}))
			t.Cleanup(srv.Close)
			got, err := newClient(t, srv.URL).AllCameras(t.Context(), tt.pageSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.total || int(pages.Load()) != tt.wantPages {
				t.Errorf("got %d cameras in %d pages, want %d in %d", len(got), pages.Load(), tt.total, tt.wantPages)
			}
			for i, c := range got {
				if want := "cam-" + string(rune('a'+i)); c.Name != want {
					t.Errorf("camera %d = %q, want %q", i, c.Name, want)
				}
			}
		})
	}
}
