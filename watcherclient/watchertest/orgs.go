package watchertest

import (
	"maps"
	"net/http"
	"slices"
)

// ---- presets ----

func (s *Server) presetOut(rec record) record {
	out := rec.clone()
	out["domain_id"] = int64(1)
	return out
}

// setDefaultPreset keeps exactly one default preset.
func (s *Server) setDefaultPreset(id int64) {
	for other, p := range s.st.presets {
		if other != id && p.bool("is_default") {
			p = p.clone()
			p["is_default"] = false
			s.st.presets[other] = p
		}
	}
}

func (s *Server) listPresets(req request) (int, any) {
	var items []record
	for _, p := range sortedByID(s.st.presets) {
		items = append(items, s.presetOut(p))
	}
	return listPage(req.r, items, "title")
}

func (s *Server) createPreset(req request) (int, any) {
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, presetField)
	if err != nil {
		return badRequest(err)
	}
	if patch.str("title") == "" {
		return badRequest(invalid("title is required"))
	}
	id := s.st.nextID("preset")
	rec := record{"id": id, "dvr_depth": nil, "is_adjustable": true, "is_default": false, "is_deleted": false}.merged(patch)
	s.st.presets[id] = rec
	if rec.bool("is_default") {
		s.setDefaultPreset(id)
	}
	s.stats.Writes++
	return http.StatusOK, s.presetOut(rec)
}

func (s *Server) getPreset(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	p, ok := s.st.presets[id]
	if !ok {
		return notFound("preset %s not found", req.r.PathValue("id"))
	}
	return http.StatusOK, s.presetOut(p)
}

func (s *Server) updatePreset(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	prev, ok := s.st.presets[id]
	if !ok {
		return notFound("preset %s not found", req.r.PathValue("id"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, presetField)
	if err != nil {
		return badRequest(err)
	}
	next := prev.merged(patch)
	switch {
	case next.str("title") == "":
		return badRequest(invalid("title must not be empty"))
	case prev.bool("is_default") && !next.bool("is_default"):
		return badRequest(invalid("a default preset must exist: set is_default on another preset instead"))
	}
	s.st.presets[id] = next
	if next.bool("is_default") {
		s.setDefaultPreset(id)
	}
	s.wrote(prev, next)
	return http.StatusOK, s.presetOut(next)
}

func (s *Server) deletePreset(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	p, ok := s.st.presets[id]
	if !ok {
		return notFound("preset %s not found", req.r.PathValue("id"))
	}
	if p.bool("is_default") {
		return badRequest(invalid("the default preset cannot be deleted"))
	}
	n := 0
	for _, c := range s.st.cameras {
		if c["preset_id"] == id {
			n++
		}
	}
	if n > 0 {
		return badRequest(invalid("preset %d is used by %d cameras", id, n))
	}
	delete(s.st.presets, id)
	maps.DeleteFunc(s.st.orgPresets, func(k pair, _ int64) bool { return k.b == id })
	s.stats.Writes++
	return success()
}

// ---- organizations ----

func (s *Server) orgOut(rec record) record {
	out := rec.clone()
	id, _ := rec.int("id")
	users := 0
	for _, u := range s.st.users {
		if orgs, _ := u["organizations"].([]int64); slices.Contains(orgs, id) {
			users++
		}
	}
	out["camera_count"] = int64(s.countCameras(id))
	out["user_count"] = int64(users)
	return out
}

// org resolves the {org} path value; ok is false for an unknown id.
func (s *Server) org(req request) (int64, record, bool) {
	id, _ := pathID(req.r, "org")
	o, ok := s.st.orgs[id]
	return id, o, ok
}

func (s *Server) checkOrg(rec record) error {
	if rec.str("title") == "" {
		return invalid("title is required")
	}
	for _, f := range []string{"camera_limit", "user_limit", "dvr_limit"} {
		if n, ok := rec.int(f); ok && n < 0 {
			return invalid("%s must not be negative", f)
		}
	}
	if owner, ok := rec.int("owner_id"); ok {
		if _, exists := s.st.users[owner]; !exists {
			return invalid("unknown owner_id %d", owner)
		}
	}
	return nil
}

func (s *Server) listOrgs(req request) (int, any) {
	var items []record
	for _, o := range sortedByID(s.st.orgs) {
		items = append(items, s.orgOut(o))
	}
	return listPage(req.r, items, "title")
}

// createOrg also creates the organization's root folder, titled after it.
func (s *Server) createOrg(req request) (int, any) {
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, orgField)
	if err != nil {
		return badRequest(err)
	}
	rec := record{"is_default": false, "camera_limit": nil, "user_limit": nil, "dvr_limit": nil, "owner_id": nil}.merged(patch)
	if err := s.checkOrg(rec); err != nil {
		return badRequest(err)
	}
	id := s.st.nextID("org")
	rec["id"] = id
	s.st.orgs[id] = rec
	folder := s.st.nextID("folder")
	s.st.folders[folder] = record{"id": folder, "organization_id": id, "parent_id": nil, "title": rec.str("title")}
	s.stats.Writes++
	return http.StatusOK, s.orgOut(rec)
}

func (s *Server) getOrg(req request) (int, any) {
	_, o, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	return http.StatusOK, s.orgOut(o)
}

func (s *Server) updateOrg(req request) (int, any) {
	id, prev, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, orgField)
	if err != nil {
		return badRequest(err)
	}
	next := prev.merged(patch)
	if err := s.checkOrg(next); err != nil {
		return badRequest(err)
	}
	s.st.orgs[id] = next
	s.wrote(prev, next)
	return http.StatusOK, s.orgOut(next)
}

// deleteOrg refuses the default organization, and one that still has
// cameras unless the request carries the "force: 1" header CODE clients
// send. Users move back to the default organization.
func (s *Server) deleteOrg(req request) (int, any) {
	id, o, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	if o.bool("is_default") {
		return badRequest(invalid("the default organization cannot be deleted"))
	}
	if n := s.countCameras(id); n > 0 && req.r.Header.Get("force") != "1" {
		return badRequest(invalid("organization %d still has %d cameras: move or delete them, or send header force: 1", id, n))
	}
	maps.DeleteFunc(s.st.cameras, func(_ string, c record) bool { return c["organization_id"] == id })
	def := s.defaultOrg()
	for uid, u := range s.st.users {
		orgs, _ := u["organizations"].([]int64)
		next := u.clone()
		next["organizations"] = slices.DeleteFunc(slices.Clone(orgs), func(o int64) bool { return o == id })
		if next["organization_id"] == id {
			next["organization_id"] = def
			withOrganization(next)
		}
		s.st.users[uid] = next
	}
	for fid, f := range s.st.folders {
		if f["organization_id"] == id {
			delete(s.st.folders, fid)
			maps.DeleteFunc(s.st.perms, func(k pair, _ record) bool { return k.a == fid })
		}
	}
	maps.DeleteFunc(s.st.members, func(k pair, _ record) bool { return k.a == id })
	maps.DeleteFunc(s.st.orgPresets, func(k pair, _ int64) bool { return k.a == id })
	delete(s.st.orgs, id)
	s.stats.Writes++
	return success()
}

// ---- organization presets ----

func (s *Server) linkOut(k pair) record {
	return record{
		"id": s.st.orgPresets[k], "organization_id": k.a, "preset_id": k.b, "is_deleted": false,
		"preset": s.presetOut(s.st.presets[k.b]),
	}
}

func (s *Server) listOrgPresets(req request) (int, any) {
	id, _, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	var items []record
	for k := range s.st.orgPresets {
		if k.a == id {
			items = append(items, s.linkOut(k))
		}
	}
	slices.SortFunc(items, byInt("id"))
	return listPage(req.r, items)
}

func (s *Server) linkOrgPreset(req request) (int, any) {
	id, _, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	v, err := coerce(kInt, in["preset_id"])
	if err != nil {
		return badRequest(invalid("preset_id: %v", err))
	}
	preset, ok := v.(int64)
	if !ok {
		return badRequest(invalid("preset_id is required"))
	}
	if _, exists := s.st.presets[preset]; !exists {
		return badRequest(invalid("unknown preset_id %d", preset))
	}
	k := pair{id, preset}
	if _, linked := s.st.orgPresets[k]; !linked {
		s.st.orgPresets[k] = s.st.nextID("org_preset")
		s.stats.Writes++
	}
	return http.StatusOK, s.linkOut(k)
}

func (s *Server) getOrgPreset(req request) (int, any) {
	id, _, _ := s.org(req)
	preset, _ := pathID(req.r, "id")
	k := pair{id, preset}
	if _, ok := s.st.orgPresets[k]; !ok {
		return notFound("preset %s is not linked to organization %s", req.r.PathValue("id"), req.r.PathValue("org"))
	}
	return http.StatusOK, s.linkOut(k)
}

func (s *Server) unlinkOrgPreset(req request) (int, any) {
	id, _, _ := s.org(req)
	preset, _ := pathID(req.r, "id")
	k := pair{id, preset}
	if _, ok := s.st.orgPresets[k]; !ok {
		return notFound("preset %s is not linked to organization %s", req.r.PathValue("id"), req.r.PathValue("org"))
	}
	delete(s.st.orgPresets, k)
	s.stats.Writes++
	return success()
}

// ---- organization members (CODE-only route) ----

func (s *Server) listMembers(req request) (int, any) {
	id, _, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	var items []record
	for k, m := range s.st.members {
		if k.a == id {
			items = append(items, m)
		}
	}
	slices.SortFunc(items, byInt("user_id"))
	return listPage(req.r, items)
}

// addMember adds a user to an organization and grants the folders listed
// in folders_permissions.
func (s *Server) addMember(req request) (int, any) {
	org, _, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, memberField)
	if err != nil {
		return badRequest(err)
	}
	uid, ok := patch.int("user_id")
	if !ok {
		return badRequest(invalid("user_id is required"))
	}
	u, exists := s.st.users[uid]
	if !exists {
		return badRequest(invalid("unknown user_id %d", uid))
	}
	folders, _ := patch["folders_permissions"].([]int64)
	for _, f := range folders {
		if s.st.folders[f]["organization_id"] != org {
			return badRequest(invalid("folder %d is not in organization %d", f, org))
		}
	}
	rec := record{
		"organization_id": org, "can_view_organization_stats": false, "can_edit_organization_cameras": false,
		"can_edit_organization_users": false, "can_view_organization_plists": false,
		"can_edit_organization_plists": false, "folders_permissions": []int64{},
	}.merged(patch)
	s.st.members[pair{org, uid}] = rec
	orgs, _ := u["organizations"].([]int64)
	if !slices.Contains(orgs, org) {
		u = u.clone()
		u["organizations"] = append(slices.Clone(orgs), org)
		s.st.users[uid] = u
	}
	for _, f := range folders {
		if _, granted := s.st.perms[pair{f, uid}]; !granted {
			s.st.perms[pair{f, uid}] = record{"user_id": uid, "can_view_dvr": false, "can_use_ptz": false, "can_use_actions": false}
		}
	}
	s.stats.Writes++
	return http.StatusOK, rec
}

func (s *Server) removeMember(req request) (int, any) {
	org, _, _ := s.org(req)
	uid, _ := pathID(req.r, "user")
	m, ok := s.st.members[pair{org, uid}]
	if !ok {
		return notFound("user %s is not a member of organization %s", req.r.PathValue("user"), req.r.PathValue("org"))
	}
	delete(s.st.members, pair{org, uid})
	if u, exists := s.st.users[uid]; exists && u["organization_id"] != org {
		orgs, _ := u["organizations"].([]int64)
		u = u.clone()
		u["organizations"] = slices.DeleteFunc(slices.Clone(orgs), func(o int64) bool { return o == org })
		s.st.users[uid] = u
	}
	s.stats.Writes++
	return http.StatusOK, m
}

// ---- folders ----

func (s *Server) rootFolder(org int64) int64 {
	for id, f := range s.st.folders {
		if f["organization_id"] == org && f["parent_id"] == nil {
			return id
		}
	}
	return 0
}

func (s *Server) folderOut(rec record) record {
	out := rec.clone()
	id, _ := rec.int("id")
	org, _ := rec.int("organization_id")
	isRoot := rec["parent_id"] == nil
	n := int64(0)
	for _, c := range s.st.cameras {
		if c["folder_id"] == id || isRoot && c["folder_id"] == nil && c["organization_id"] == org {
			n++
		}
	}
	level := int64(0)
	for p, ok := rec.int("parent_id"); ok && level < 64; p, ok = s.st.folders[p].int("parent_id") {
		level++
	}
	out["camera_count"] = n
	out["level"] = level
	return out
}

// folder resolves {org} and {folder}; a folder of another organization is
// not found.
func (s *Server) folder(req request) (org, id int64, f record, ok bool) {
	org, _ = pathID(req.r, "org")
	id, _ = pathID(req.r, "folder")
	f, ok = s.st.folders[id]
	return org, id, f, ok && f["organization_id"] == org
}

// checkParent refuses a parent outside org and moves that would make a
// folder its own ancestor.
func (s *Server) checkParent(org, id, parent int64) error {
	p, ok := s.st.folders[parent]
	if !ok || p["organization_id"] != org {
		return invalid("unknown parent_id %d in organization %d", parent, org)
	}
	for a, depth := parent, 0; a != 0 && depth < 64; depth++ {
		if a == id {
			return invalid("parent_id %d would put folder %d inside itself", parent, id)
		}
		a, _ = s.st.folders[a].int("parent_id")
	}
	return nil
}

func (s *Server) listFolders(req request) (int, any) {
	id, _, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	var items []record
	for _, f := range sortedByID(s.st.folders) {
		if f["organization_id"] == id {
			items = append(items, s.folderOut(f))
		}
	}
	return listPage(req.r, items, "title")
}

func (s *Server) createFolder(req request) (int, any) {
	org, _, ok := s.org(req)
	if !ok {
		return notFound("organization %s not found", req.r.PathValue("org"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, folderField)
	if err != nil {
		return badRequest(err)
	}
	if patch.str("title") == "" {
		return badRequest(invalid("title is required"))
	}
	parent, ok := patch.int("parent_id")
	if !ok {
		parent = s.rootFolder(org)
	}
	if err := s.checkParent(org, 0, parent); err != nil {
		return badRequest(err)
	}
	id := s.st.nextID("folder")
	rec := record{"id": id, "organization_id": org}.merged(patch)
	rec["parent_id"] = parent
	s.st.folders[id] = rec
	s.stats.Writes++
	return http.StatusOK, s.folderOut(rec)
}

func (s *Server) getFolder(req request) (int, any) {
	_, _, f, ok := s.folder(req)
	if !ok {
		return notFound("folder %s not found in organization %s", req.r.PathValue("folder"), req.r.PathValue("org"))
	}
	return http.StatusOK, s.folderOut(f)
}

func (s *Server) updateFolder(req request) (int, any) {
	org, id, prev, ok := s.folder(req)
	if !ok {
		return notFound("folder %s not found in organization %s", req.r.PathValue("folder"), req.r.PathValue("org"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, folderField)
	if err != nil {
		return badRequest(err)
	}
	next := prev.merged(patch)
	if next.str("title") == "" {
		return badRequest(invalid("title must not be empty"))
	}
	if _, given := patch["parent_id"]; given {
		parent, hasParent := next.int("parent_id")
		switch {
		case prev["parent_id"] == nil && hasParent:
			return badRequest(invalid("the root folder cannot be moved"))
		case prev["parent_id"] != nil && !hasParent:
			next["parent_id"] = s.rootFolder(org)
		case hasParent:
			if err := s.checkParent(org, id, parent); err != nil {
				return badRequest(err)
			}
		}
	}
	s.st.folders[id] = next
	s.wrote(prev, next)
	return http.StatusOK, s.folderOut(next)
}

func (s *Server) deleteFolder(req request) (int, any) {
	_, id, f, ok := s.folder(req)
	if !ok {
		return notFound("folder %s not found in organization %s", req.r.PathValue("folder"), req.r.PathValue("org"))
	}
	if f["parent_id"] == nil {
		return badRequest(invalid("the root folder cannot be deleted"))
	}
	for _, other := range s.st.folders {
		if other["parent_id"] == id {
			return badRequest(invalid("folder %d has subfolders: delete them first", id))
		}
	}
	for _, c := range s.st.cameras {
		if c["folder_id"] == id {
			return badRequest(invalid("folder %d still has cameras: move them first", id))
		}
	}
	delete(s.st.folders, id)
	maps.DeleteFunc(s.st.perms, func(k pair, _ record) bool { return k.a == id })
	s.stats.Writes++
	return success()
}

// ---- folder permissions ----

func (s *Server) folderPerms(folder int64) []record {
	var out []record
	for k, p := range s.st.perms {
		if k.a == folder {
			out = append(out, p.clone())
		}
	}
	slices.SortFunc(out, byInt("user_id"))
	return out
}

func (s *Server) listPerms(req request) (int, any) {
	_, id, _, ok := s.folder(req)
	if !ok {
		return notFound("folder %s not found in organization %s", req.r.PathValue("folder"), req.r.PathValue("org"))
	}
	return listPage(req.r, s.folderPerms(id))
}

// grantPerm creates or replaces a user's permission on a folder.
func (s *Server) grantPerm(req request) (int, any) {
	_, id, _, ok := s.folder(req)
	if !ok {
		return notFound("folder %s not found in organization %s", req.r.PathValue("folder"), req.r.PathValue("org"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, permissionField)
	if err != nil {
		return badRequest(err)
	}
	uid, ok := patch.int("user_id")
	if !ok {
		return badRequest(invalid("user_id is required"))
	}
	if _, exists := s.st.users[uid]; !exists {
		return badRequest(invalid("unknown user_id %d", uid))
	}
	next := record{"can_view_dvr": false, "can_use_ptz": false, "can_use_actions": false}.merged(patch)
	k := pair{id, uid}
	prev := s.st.perms[k]
	s.st.perms[k] = next
	s.wrote(prev, next)
	return http.StatusOK, next
}

func (s *Server) perm(req request) (pair, record, bool) {
	_, id, _, ok := s.folder(req)
	uid, _ := pathID(req.r, "user")
	k := pair{id, uid}
	p, granted := s.st.perms[k]
	return k, p, ok && granted
}

func (s *Server) getPerm(req request) (int, any) {
	_, p, ok := s.perm(req)
	if !ok {
		return notFound("user %s has no permission on folder %s", req.r.PathValue("user"), req.r.PathValue("folder"))
	}
	return http.StatusOK, p
}

func (s *Server) updatePerm(req request) (int, any) {
	k, prev, ok := s.perm(req)
	if !ok {
		return notFound("user %s has no permission on folder %s", req.r.PathValue("user"), req.r.PathValue("folder"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, permissionField)
	if err != nil {
		return badRequest(err)
	}
	delete(patch, "user_id")
	next := prev.merged(patch)
	s.st.perms[k] = next
	s.wrote(prev, next)
	return http.StatusOK, next
}

// revokePerm deletes the permission and, as documented, replies with it.
func (s *Server) revokePerm(req request) (int, any) {
	k, p, ok := s.perm(req)
	if !ok {
		return notFound("user %s has no permission on folder %s", req.r.PathValue("user"), req.r.PathValue("folder"))
	}
	delete(s.st.perms, k)
	s.stats.Writes++
	return http.StatusOK, p
}
