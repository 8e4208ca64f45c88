package watcherclient

// Camera is a Watcher camera (stream). Pointer fields distinguish "not sent"
// from the zero value, because PUT and import merge only the fields present.
// Replies decode leniently (numeric strings, 0/1 booleans).
//
// Reference: https://flussonic.github.io/watcher-docs/api-reference.html
type Camera struct {
	Name           string   `json:"name,omitempty"`
	Title          string   `json:"title,omitempty"`
	Comment        string   `json:"comment,omitempty"`
	StreamURL      string   `json:"stream_url,omitempty"`
	SubstreamURL   string   `json:"substream_url,omitempty"`
	ThumbnailsURL  string   `json:"thumbnails_url,omitempty"`
	OnvifURL       string   `json:"onvif_url,omitempty"`
	OnvifProfile   string   `json:"onvif_profile,omitempty"`
	CanPTZ         *bool    `json:"can_ptz,omitempty"`
	OnvifPTZ       *bool    `json:"onvif_ptz,omitempty"`
	Enabled        *bool    `json:"enabled,omitempty"`
	Static         *bool    `json:"static,omitempty"`
	OrganizationID *int64   `json:"organization_id,omitempty"`
	PresetID       *int64   `json:"preset_id,omitempty"`
	FolderID       *int64   `json:"folder_id,omitempty"`
	DVRDepth       *float64 `json:"dvr_depth,omitempty"`
	AgentSerial    string   `json:"agent_serial,omitempty"`
	AgentID        string   `json:"agent_id,omitempty"`
	AgentKey       string   `json:"agent_key,omitempty"`
	AgentModel     string   `json:"agent_model,omitempty"`
	AbonentSign    string   `json:"abonent_sign,omitempty"`
	// ExternalID is sent as "extrenal_id", misspelt exactly as Watcher does.
	ExternalID string `json:"extrenal_id,omitempty"`

	// Preset is filled in replies only; Watcher ignores it on input.
	Preset *Preset `json:"preset,omitempty"`

	// Clear names string fields (by JSON name) to send as "" when empty:
	// import and PUT keep any field they are not sent, so a value that
	// disappeared (a camera re-activated without a substream) must be
	// cleared explicitly.
	Clear []string `json:"-"`
}

// UnmarshalJSON decodes leniently; see Camera.
func (c *Camera) UnmarshalJSON(b []byte) error {
	return decodeLenient(b, c)
}

// Preset is a Watcher archive preset. DVRDepth is always sent (null means no
// archive limit) because Watcher treats a missing and a null depth alike.
//
// Reference: https://flussonic.com/doc/watcher/presets-management/
type Preset struct {
	ID           int64    `json:"id,omitempty"`
	Title        string   `json:"title,omitempty"`
	DVRDepth     *float64 `json:"dvr_depth"`
	DVRSpace     *int64   `json:"dvr_space,omitempty"`
	DVRLockDays  *int64   `json:"dvr_lock_days,omitempty"`
	IsAdjustable *bool    `json:"is_adjustable,omitempty"`
	IsDefault    bool     `json:"is_default,omitempty"`
	IsDeleted    bool     `json:"is_deleted,omitempty"`
}

// UnmarshalJSON decodes leniently; see Camera.
func (p *Preset) UnmarshalJSON(b []byte) error {
	return decodeLenient(b, p)
}

// User is a Watcher user. Password is write-only: Watcher does not return it.
//
// Reference: https://flussonic.com/doc/watcher/user-management-api/
type User struct {
	ID             int64   `json:"id,omitempty"`
	Login          string  `json:"login,omitempty"`
	Password       string  `json:"password,omitempty"`
	Name           string  `json:"name,omitempty"`
	Note           string  `json:"note,omitempty"`
	Email          string  `json:"notification_email,omitempty"`
	Phone          string  `json:"phone,omitempty"`
	OrganizationID *int64  `json:"organization_id,omitempty"`
	Organizations  []int64 `json:"organizations,omitempty"`
	Enabled        *bool   `json:"enabled,omitempty"`
	Readonly       *bool   `json:"readonly,omitempty"`
	IsAdmin        *bool   `json:"is_admin,omitempty"`
	ExternalID     string  `json:"external_id,omitempty"`
}

// UnmarshalJSON decodes leniently; see Camera.
func (u *User) UnmarshalJSON(b []byte) error {
	return decodeLenient(b, u)
}

// Organization is a Watcher organization (a tenant owning cameras, users
// and folders).
//
// Reference: https://flussonic.com/doc/watcher/organization-management-api/
type Organization struct {
	ID          int64  `json:"id,omitempty"`
	Title       string `json:"title,omitempty"`
	CameraLimit *int64 `json:"camera_limit,omitempty"`
	UserLimit   *int64 `json:"user_limit,omitempty"`
	DVRLimit    *int64 `json:"dvr_limit,omitempty"`
	OwnerID     *int64 `json:"owner_id,omitempty"`
	IsDefault   bool   `json:"is_default,omitempty"`
}

// UnmarshalJSON decodes leniently; see Camera.
func (o *Organization) UnmarshalJSON(b []byte) error {
	return decodeLenient(b, o)
}

// Folder groups cameras inside an organization and is the unit of
// permission. The root folder has a null ParentID; on create a null parent
// places the folder under the root.
//
// Reference: https://flussonic.com/doc/watcher/folder-management-api/
type Folder struct {
	ID             int64  `json:"id,omitempty"`
	ParentID       *int64 `json:"parent_id"`
	Title          string `json:"title,omitempty"`
	OrganizationID int64  `json:"organization_id,omitempty"`
}

// UnmarshalJSON decodes leniently; see Camera.
func (f *Folder) UnmarshalJSON(b []byte) error {
	return decodeLenient(b, f)
}

// FolderPermission grants a user access to the cameras of a folder.
type FolderPermission struct {
	UserID     int64 `json:"user_id"`
	CanViewDVR bool  `json:"can_view_dvr"`
	CanUsePTZ  bool  `json:"can_use_ptz"`
}

// UnmarshalJSON decodes leniently; see Camera.
func (p *FolderPermission) UnmarshalJSON(b []byte) error {
	return decodeLenient(b, p)
}

// ListOptions selects one page of a collection. Zero values are not sent.
type ListOptions struct {
	Search         string // substring match on name, title, comment or login
	Limit, Offset  int
	OrganizationID int64 // cameras only
}
