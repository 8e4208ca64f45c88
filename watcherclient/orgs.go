package watcherclient

import (
	"context"
	"net/http"
)

func orgPath(org int64) string { return "/organizations/" + pathID(org) }

func folderPath(org, folder int64) string {
	return orgPath(org) + "/folders/" + pathID(folder)
}

// ListPresets returns every archive preset, the Default one included.
//
// Route: GET /presets (https://flussonic.com/doc/watcher/presets-management/)
func (c *Client) ListPresets(ctx context.Context) ([]Preset, error) {
	var out []Preset
	err := c.do(ctx, "list presets", http.MethodGet, "/presets", nil, nil, &out)
	return out, err
}

// CreatePreset creates an archive preset.
//
// Route: POST /presets
func (c *Client) CreatePreset(ctx context.Context, p Preset) (Preset, error) {
	var out Preset
	err := c.do(ctx, "create preset", http.MethodPost, "/presets", nil, p, &out)
	return out, err
}

// GetPreset fetches a preset by id.
//
// Route: GET /presets/{preset_id}
func (c *Client) GetPreset(ctx context.Context, id int64) (Preset, error) {
	var out Preset
	err := c.do(ctx, "get preset", http.MethodGet, "/presets/"+pathID(id), nil, nil, &out)
	return out, err
}

// UpdatePreset merges fields into a preset and returns the whole preset.
//
// Route: PUT /presets/{preset_id}
func (c *Client) UpdatePreset(ctx context.Context, id int64, fields any) (Preset, error) {
	var out Preset
	err := c.do(ctx, "update preset", http.MethodPut, "/presets/"+pathID(id), nil, fields, &out)
	return out, err
}

// DeletePreset removes a preset.
//
// Route: DELETE /presets/{preset_id}
func (c *Client) DeletePreset(ctx context.Context, id int64) error {
	return c.do(ctx, "delete preset", http.MethodDelete, "/presets/"+pathID(id), nil, nil, nil)
}

// ListOrganizations returns every organization.
//
// Route: GET /organizations (https://flussonic.com/doc/watcher/organization-management-api/)
func (c *Client) ListOrganizations(ctx context.Context) ([]Organization, error) {
	var out []Organization
	err := c.do(ctx, "list organizations", http.MethodGet, "/organizations", nil, nil, &out)
	return out, err
}

// CreateOrganization creates an organization; Watcher also creates its root
// folder.
//
// Route: POST /organizations
func (c *Client) CreateOrganization(ctx context.Context, o Organization) (Organization, error) {
	var out Organization
	err := c.do(ctx, "create organization", http.MethodPost, "/organizations", nil, o, &out)
	return out, err
}

// GetOrganization fetches an organization by id.
//
// Route: GET /organizations/{id}
func (c *Client) GetOrganization(ctx context.Context, id int64) (Organization, error) {
	var out Organization
	err := c.do(ctx, "get organization", http.MethodGet, orgPath(id), nil, nil, &out)
	return out, err
}

// UpdateOrganization merges fields into an organization and returns it.
//
// Route: PUT /organizations/{id}
func (c *Client) UpdateOrganization(ctx context.Context, id int64, fields any) (Organization, error) {
	var out Organization
	err := c.do(ctx, "update organization", http.MethodPut, orgPath(id), nil, fields, &out)
	return out, err
}

// DeleteOrganization removes an organization.
//
// Route: DELETE /organizations/{id}
func (c *Client) DeleteOrganization(ctx context.Context, id int64) error {
	return c.do(ctx, "delete organization", http.MethodDelete, orgPath(id), nil, nil, nil)
}

// ListFolders returns the folders of an organization, its root included.
//
// Route: GET /organizations/{org}/folders (https://flussonic.com/doc/watcher/folder-management-api/)
func (c *Client) ListFolders(ctx context.Context, org int64) ([]Folder, error) {
	var out []Folder
	err := c.do(ctx, "list folders", http.MethodGet, orgPath(org)+"/folders", nil, nil, &out)
	return out, err
}

// CreateFolder creates a folder in an organization.
//
// Route: POST /organizations/{org}/folders
func (c *Client) CreateFolder(ctx context.Context, org int64, f Folder) (Folder, error) {
	var out Folder
	err := c.do(ctx, "create folder", http.MethodPost, orgPath(org)+"/folders", nil, f, &out)
	return out, err
}

// GetFolder fetches one folder.
//
// Route: GET /organizations/{org}/folders/{folder_id}
func (c *Client) GetFolder(ctx context.Context, org, folder int64) (Folder, error) {
	var out Folder
	err := c.do(ctx, "get folder", http.MethodGet, folderPath(org, folder), nil, nil, &out)
	return out, err
}

// UpdateFolder merges fields into a folder and returns it.
//
// Route: PUT /organizations/{org}/folders/{folder_id}
func (c *Client) UpdateFolder(ctx context.Context, org, folder int64, fields any) (Folder, error) {
	var out Folder
	err := c.do(ctx, "update folder", http.MethodPut, folderPath(org, folder), nil, fields, &out)
	return out, err
}

// DeleteFolder removes a folder.
//
// Route: DELETE /organizations/{org}/folders/{folder_id}
func (c *Client) DeleteFolder(ctx context.Context, org, folder int64) error {
	return c.do(ctx, "delete folder", http.MethodDelete, folderPath(org, folder), nil, nil, nil)
}

// GrantFolder gives a user access to a folder's cameras; granting again
// replaces the previous permission.
//
// Route: POST /organizations/{org}/folders/{folder}/users
func (c *Client) GrantFolder(ctx context.Context, org, folder int64, p FolderPermission) (FolderPermission, error) {
	var out FolderPermission
	err := c.do(ctx, "grant folder", http.MethodPost, folderPath(org, folder)+"/users", nil, p, &out)
	return out, err
}

// ListFolderPermissions returns who has access to a folder.
//
// Route: GET /organizations/{org}/folders/{folder}/users
func (c *Client) ListFolderPermissions(ctx context.Context, org, folder int64) ([]FolderPermission, error) {
	var out []FolderPermission
	err := c.do(ctx, "list folder permissions", http.MethodGet, folderPath(org, folder)+"/users", nil, nil, &out)
	return out, err
}

// GetFolderPermission fetches one user's permission on a folder; 404 means
// the user has none.
//
// Route: GET /organizations/{org}/folders/{folder}/users/{user_id}
func (c *Client) GetFolderPermission(ctx context.Context, org, folder, user int64) (FolderPermission, error) {
	var out FolderPermission
	err := c.do(ctx, "get folder permission", http.MethodGet, folderPath(org, folder)+"/users/"+pathID(user), nil, nil, &out)
	return out, err
}

// UpdateFolderPermission merges fields into a user's folder permission.
//
// Route: PUT /organizations/{org}/folders/{folder}/users/{user_id}
func (c *Client) UpdateFolderPermission(ctx context.Context, org, folder, user int64, fields any) (FolderPermission, error) {
	var out FolderPermission
	err := c.do(ctx, "update folder permission", http.MethodPut, folderPath(org, folder)+"/users/"+pathID(user), nil, fields, &out)
	return out, err
}

// RevokeFolder removes a user's access to a folder.
//
// Route: DELETE /organizations/{org}/folders/{folder}/users/{user_id}
func (c *Client) RevokeFolder(ctx context.Context, org, folder, user int64) error {
	return c.do(ctx, "revoke folder", http.MethodDelete, folderPath(org, folder)+"/users/"+pathID(user), nil, nil, nil)
}
