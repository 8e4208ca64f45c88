package watcherclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// defaultPageSize is used by the All* helpers when the caller passes 0.
const defaultPageSize = 500

// ImportCameras upserts cameras in one request: rows whose name exists are
// merged, the others are created. Check the result with RowErrors: Watcher
// rejects bad rows individually and applies the rest.
//
// Route: POST /cameras/import (https://flussonic.com/doc/massive-cameras-import-with-api)
func (c *Client) ImportCameras(ctx context.Context, rows []Camera) (ImportResult, error) {
	body, err := encodeCameras(rows)
	if err != nil {
		return ImportResult{}, fmt.Errorf("watcher import cameras: encode request: %w", err)
	}
	var res ImportResult
	err = c.do(ctx, "import cameras", http.MethodPost, "/cameras/import", nil, body, &res)
	return res, err
}

// CreateCamera creates one camera and returns it as stored, including the
// generated name when cam.Name is empty.
//
// Route: POST /cameras (https://flussonic.github.io/watcher-docs/api-examples.html)
func (c *Client) CreateCamera(ctx context.Context, cam Camera) (Camera, error) {
	var out Camera
	err := c.do(ctx, "create camera", http.MethodPost, "/cameras", nil, cam, &out)
	return out, err
}

// GetCamera fetches one camera; IsNotFound(err) tells an unknown name.
//
// Route: GET /cameras/{name}
func (c *Client) GetCamera(ctx context.Context, name string) (Camera, error) {
	var out Camera
	err := c.do(ctx, "get camera", http.MethodGet, "/cameras/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// UpdateCamera merges fields (a map or struct, marshalled as is) into the
// camera and returns the whole camera. Send the desired values, not deltas,
// so a repeated call is harmless.
//
// Route: PUT /cameras/{name}
func (c *Client) UpdateCamera(ctx context.Context, name string, fields any) (Camera, error) {
	var out Camera
	err := c.do(ctx, "update camera", http.MethodPut, "/cameras/"+url.PathEscape(name), nil, fields, &out)
	return out, err
}

// DeleteCamera removes a camera and its archive settings.
//
// Route: DELETE /cameras/{name}
func (c *Client) DeleteCamera(ctx context.Context, name string) error {
	return c.do(ctx, "delete camera", http.MethodDelete, "/cameras/"+url.PathEscape(name), nil, nil, nil)
}

// ListCameras returns one page of cameras (the full configuration, since the
// system key lists in admin mode).
//
// Route: GET /cameras
func (c *Client) ListCameras(ctx context.Context, opts ListOptions) ([]Camera, error) {
	var out []Camera
	err := c.do(ctx, "list cameras", http.MethodGet, "/cameras", opts.query(), nil, &out)
	return out, err
}

// AllCameras pages through GET /cameras until a page comes back shorter than
// pageSize (default 500), because Watcher returns no total count.
func (c *Client) AllCameras(ctx context.Context, pageSize int) ([]Camera, error) {
	return all(ctx, pageSize, func(ctx context.Context, o ListOptions) ([]Camera, error) {
		return c.ListCameras(ctx, o)
	})
}

// UserCameras lists the cameras a user can see through folder permissions.
//
// Route: GET /users/{id}/cameras
func (c *Client) UserCameras(ctx context.Context, userID int64) ([]Camera, error) {
	var out []Camera
	err := c.do(ctx, "list user cameras", http.MethodGet, "/users/"+pathID(userID)+"/cameras", nil, nil, &out)
	return out, err
}

// all collects pages from list. A page longer than the limit means the
// server ignored paging and sent everything, so it ends the walk too.
func all[T any](ctx context.Context, pageSize int, list func(context.Context, ListOptions) ([]T, error)) ([]T, error) {
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	var out []T
	for {
		page, err := list(ctx, ListOptions{Limit: pageSize, Offset: len(out)})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) != pageSize {
			return out, nil
		}
	}
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Search != "" {
		q.Set("search", o.Search)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.OrganizationID != 0 {
		q.Set("organization_id", strconv.FormatInt(o.OrganizationID, 10))
	}
	return q
}
