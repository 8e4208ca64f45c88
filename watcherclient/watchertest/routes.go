package watchertest

import "net/http"

// routes registers every API route. Query parameters such as ?trace=sql
// and ?type=csv are tolerated everywhere because nothing rejects unknown
// parameters.
func (s *Server) routes(mux *http.ServeMux) {
	r := func(pattern string, a access, h handlerFunc) { s.route(mux, pattern, a, h) }

	r("POST /auth/login", public, s.login)
	r("POST /auth/check-login", public, s.checkLogin)
	r("GET /auth/whoami", anyCaller, s.whoami)
	r("POST /auth/logout", anyCaller, s.logout)

	r("GET /cameras", anyCaller, s.listCameras)
	r("POST /cameras", adminOnly, s.createCamera)
	r("POST /cameras/import", adminOnly, s.importCameras)
	r("GET /cameras/{name}", anyCaller, s.getCamera)
	r("PUT /cameras/{name}", adminOnly, s.updateCamera)
	r("DELETE /cameras/{name}", adminOnly, s.deleteCamera)

	r("GET /users", adminOnly, s.listUsers)
	r("POST /users", adminOnly, s.createUser)
	r("GET /users/{id}", adminOnly, s.getUser)
	r("PUT /users/{id}", adminOnly, s.updateUser)
	r("DELETE /users/{id}", adminOnly, s.deleteUser)
	r("GET /users/{id}/cameras", anyCaller, s.userCameras)

	r("GET /presets", adminOnly, s.listPresets)
	r("POST /presets", adminOnly, s.createPreset)
	r("GET /presets/{id}", adminOnly, s.getPreset)
	r("PUT /presets/{id}", adminOnly, s.updatePreset)
	r("DELETE /presets/{id}", adminOnly, s.deletePreset)

	r("GET /organizations", adminOnly, s.listOrgs)
	r("POST /organizations", adminOnly, s.createOrg)
	r("GET /organizations/{org}", adminOnly, s.getOrg)
	r("PUT /organizations/{org}", adminOnly, s.updateOrg)
	r("DELETE /organizations/{org}", adminOnly, s.deleteOrg)

	r("GET /organizations/{org}/presets", adminOnly, s.listOrgPresets)
	r("POST /organizations/{org}/presets", adminOnly, s.linkOrgPreset)
	r("GET /organizations/{org}/presets/{id}", adminOnly, s.getOrgPreset)
	r("DELETE /organizations/{org}/presets/{id}", adminOnly, s.unlinkOrgPreset)

	r("GET /organizations/{org}/users", adminOnly, s.listMembers)
	r("POST /organizations/{org}/users", adminOnly, s.addMember)
	r("DELETE /organizations/{org}/users/{user}", adminOnly, s.removeMember)

	r("GET /organizations/{org}/folders", adminOnly, s.listFolders)
	r("POST /organizations/{org}/folders", adminOnly, s.createFolder)
	r("GET /organizations/{org}/folders/{folder}", adminOnly, s.getFolder)
	r("PUT /organizations/{org}/folders/{folder}", adminOnly, s.updateFolder)
	r("DELETE /organizations/{org}/folders/{folder}", adminOnly, s.deleteFolder)

	r("GET /organizations/{org}/folders/{folder}/users", adminOnly, s.listPerms)
	r("POST /organizations/{org}/folders/{folder}/users", adminOnly, s.grantPerm)
	r("GET /organizations/{org}/folders/{folder}/users/{user}", adminOnly, s.getPerm)
	r("PUT /organizations/{org}/folders/{folder}/users/{user}", adminOnly, s.updatePerm)
	r("DELETE /organizations/{org}/folders/{folder}/users/{user}", adminOnly, s.revokePerm)

	// Anything else: authenticate first, as Watcher does, then 404.
	r("/", anyCaller, func(req request) (int, any) {
		return notFound("no route %s %s", req.r.Method, req.r.URL.Path)
	})
}
