package watcherclient

import (
	"context"
	"net/http"
)

// CreateUser creates a user. Login is required; a missing OrganizationID
// puts the user in the default organization.
//
// Route: POST /users (https://flussonic.com/doc/watcher/user-management-api/)
func (c *Client) CreateUser(ctx context.Context, u User) (User, error) {
	var out User
	err := c.do(ctx, "create user", http.MethodPost, "/users", nil, u, &out)
	return out, err
}

// GetUser fetches a user by integer id.
//
// Route: GET /users/{id}
func (c *Client) GetUser(ctx context.Context, id int64) (User, error) {
	var out User
	err := c.do(ctx, "get user", http.MethodGet, "/users/"+pathID(id), nil, nil, &out)
	return out, err
}

// UpdateUser merges fields (a map or struct, marshalled as is) into the user
// and returns the whole user.
//
// Route: PUT /users/{id}
func (c *Client) UpdateUser(ctx context.Context, id int64, fields any) (User, error) {
	var out User
	err := c.do(ctx, "update user", http.MethodPut, "/users/"+pathID(id), nil, fields, &out)
	return out, err
}

// DeleteUser removes a user.
//
// Route: DELETE /users/{id}
func (c *Client) DeleteUser(ctx context.Context, id int64) error {
	return c.do(ctx, "delete user", http.MethodDelete, "/users/"+pathID(id), nil, nil, nil)
}

// ListUsers returns one page of users; Search is a substring match.
//
// Route: GET /users
func (c *Client) ListUsers(ctx context.Context, opts ListOptions) ([]User, error) {
	var out []User
	err := c.do(ctx, "list users", http.MethodGet, "/users", opts.query(), nil, &out)
	return out, err
}

// AllUsers pages through GET /users until a page is shorter than pageSize
// (default 500).
func (c *Client) AllUsers(ctx context.Context, pageSize int) ([]User, error) {
	return all(ctx, pageSize, func(ctx context.Context, o ListOptions) ([]User, error) {
		return c.ListUsers(ctx, o)
	})
}

// FindUserByLogin looks a user up by exact login. Watcher has no such
// route and its search is a substring match ("ann" also finds "joanne"), so
// this pages through GET /users?search=login and filters itself.
//
// Route: GET /users?search={login}
func (c *Client) FindUserByLogin(ctx context.Context, login string) (User, bool, error) {
	if login == "" {
		return User{}, false, nil
	}
	const pageSize = 100
	for offset := 0; ; {
		page, err := c.ListUsers(ctx, ListOptions{Search: login, Limit: pageSize, Offset: offset})
		if err != nil {
			return User{}, false, err
		}
		for _, u := range page {
			if u.Login == login {
				return u, true, nil
			}
		}
		if len(page) != pageSize {
			return User{}, false, nil
		}
		offset += len(page)
	}
}
