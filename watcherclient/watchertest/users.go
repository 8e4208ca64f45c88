package watchertest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
)

func recordsEqual(a, b record) bool {
	return reflect.DeepEqual(a, b)
}

// userOut hides the secrets Watcher never returns.
func userOut(rec record) record {
	out := rec.clone()
	delete(out, "password")
	delete(out, "apikey")
	return out
}

// checkUser validates a user about to be stored under id (0 on create).
func (s *Server) checkUser(id int64, rec record) error {
	login := rec.str("login")
	if login == "" {
		return invalid("login is required")
	}
	for other, u := range s.st.users {
		if other != id && u.str("login") == login {
			return invalid("login %q is already taken by user %d", login, other)
		}
	}
	org, ok := rec.int("organization_id")
	if !ok {
		return invalid("organization_id must not be null")
	}
	if _, ok := s.st.orgs[org]; !ok {
		return invalid("unknown organization_id %d", org)
	}
	orgs, _ := rec["organizations"].([]int64)
	for _, o := range orgs {
		if _, ok := s.st.orgs[o]; !ok {
			return invalid("unknown organization %d in organizations", o)
		}
	}
	return nil
}

// withOrganization keeps organizations containing organization_id.
func withOrganization(rec record) {
	org, ok := rec.int("organization_id")
	orgs, _ := rec["organizations"].([]int64)
	if ok && !slices.Contains(orgs, org) {
		rec["organizations"] = append(slices.Clone(orgs), org)
	}
}

func (s *Server) listUsers(req request) (int, any) {
	org, err := queryInt(req.r.URL.Query().Get("organization_id"))
	if err != nil {
		return badRequest(invalid("organization_id: %v", err))
	}
	var items []record
	for _, u := range sortedByID(s.st.users) {
		if orgs, _ := u["organizations"].([]int64); org == 0 || slices.Contains(orgs, org) {
			items = append(items, userOut(u))
		}
	}
	return listPage(req.r, items, "login", "name", "note")
}

func (s *Server) createUser(req request) (int, any) {
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, userField)
	if err != nil {
		return badRequest(err)
	}
	rec := record{
		"enabled": true, "readonly": false, "is_admin": false,
		"organization_id": s.defaultOrg(), "organizations": []int64{},
	}.merged(patch)
	if _, given := patch["organization_id"]; !given {
		if orgs, _ := patch["organizations"].([]int64); len(orgs) > 0 {
			rec["organization_id"] = orgs[0]
		}
	}
	withOrganization(rec)
	if err := s.checkUser(0, rec); err != nil {
		return badRequest(err)
	}
	id := s.st.nextID("user")
	rec["id"] = id
	s.st.users[id] = rec
	s.stats.Writes++
	return http.StatusOK, userOut(rec)
}

func (s *Server) getUser(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	u, ok := s.st.users[id]
	if !ok {
		return notFound("user %s not found", req.r.PathValue("id"))
	}
	return http.StatusOK, userOut(u)
}

func (s *Server) updateUser(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	prev, ok := s.st.users[id]
	if !ok {
		return notFound("user %s not found", req.r.PathValue("id"))
	}
	in, err := decodeObject(req.body)
	if err != nil {
		return badRequest(err)
	}
	patch, err := parseFields(in, userField)
	if err != nil {
		return badRequest(err)
	}
	next := prev.merged(patch)
	withOrganization(next)
	if err := s.checkUser(id, next); err != nil {
		return badRequest(err)
	}
	s.st.users[id] = next
	s.wrote(prev, next)
	return http.StatusOK, userOut(next)
}

func (s *Server) deleteUser(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	if _, ok := s.st.users[id]; !ok {
		return notFound("user %s not found", req.r.PathValue("id"))
	}
	delete(s.st.users, id)
	maps.DeleteFunc(s.st.perms, func(k pair, _ record) bool { return k.b == id })
	maps.DeleteFunc(s.st.members, func(k pair, _ record) bool { return k.b == id })
	maps.DeleteFunc(s.st.sessions, func(_ string, uid int64) bool { return uid == id })
	s.stats.Writes++
	return success()
}

func (s *Server) userCameras(req request) (int, any) {
	id, _ := pathID(req.r, "id")
	u, ok := s.st.users[id]
	if !ok {
		return notFound("user %s not found", req.r.PathValue("id"))
	}
	if !req.who.admin && req.who.userID != id {
		return forbidden("Forbidden", "users may only list their own cameras")
	}
	as := caller{admin: u.bool("is_admin"), userID: id}
	var items []record
	for _, name := range slices.Sorted(maps.Keys(s.st.cameras)) {
		if c := s.st.cameras[name]; s.visible(c, as) {
			items = append(items, s.cameraOut(c))
		}
	}
	return listPage(req.r, items, "name", "title", "comment")
}

// credentials reads {login, password} from JSON or a urlencoded form, as
// some billing scripts post the latter.
func credentials(r *http.Request, body []byte) (login, password string) {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if json.Unmarshal(body, &in) == nil {
		return in.Login, in.Password
	}
	form, _ := url.ParseQuery(string(body))
	return form.Get("login"), form.Get("password")
}

// checkPassword finds an enabled user whose password matches. Users
// created without a password cannot log in.
func (s *Server) checkPassword(login, password string) (int64, record, bool) {
	for id, u := range s.st.users {
		stored := u.str("password")
		if u.str("login") == login && stored != "" && u.bool("enabled") &&
			subtle.ConstantTimeCompare([]byte(stored), []byte(password)) == 1 {
			return id, u, true
		}
	}
	return 0, nil, false
}

func (s *Server) login(req request) (int, any) {
	id, u, ok := s.checkPassword(credentials(req.r, req.body))
	if !ok {
		return forbidden("Forbidden", "wrong login or password")
	}
	session := rand.Text()
	s.st.sessions[session] = id
	orgs, _ := u["organizations"].([]int64)
	return http.StatusOK, record{
		"session": session, "id": id, "login": u.str("login"), "is_admin": u.bool("is_admin"),
		"is_domain_admin": false, "is_organization_admin": false, "is_logged_in": true,
		"readonly": u.bool("readonly"), "organizations": orgs, "notification_email": u.str("notification_email"),
	}
}

func (s *Server) checkLogin(req request) (int, any) {
	if _, _, ok := s.checkPassword(credentials(req.r, req.body)); !ok {
		return forbidden("Forbidden", "wrong login or password")
	}
	return success()
}

func (s *Server) whoami(req request) (int, any) {
	if req.who.userID == 0 {
		return http.StatusOK, record{"login": "", "is_admin": true}
	}
	u := s.st.users[req.who.userID]
	return http.StatusOK, record{"id": req.who.userID, "login": u.str("login"), "is_admin": u.bool("is_admin")}
}

func (s *Server) logout(req request) (int, any) {
	delete(s.st.sessions, req.r.Header.Get("x-vsaas-session"))
	return success()
}
