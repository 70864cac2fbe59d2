package console

import "github.com/nigehban/nigehban/internal/account"

// Page is a route of the table, for the tests.
type Page struct {
	Method, Path string
	Access       string // public, totp, enrol, session, role
	Role         account.Role
}

// PageTable returns the route table.
func PageTable() []Page {
	names := map[access]string{public: "public", stepTOTP: "totp", stepEnrol: "enrol", anySession: "session", roleNeeded: "role"}
	var out []Page
	for _, p := range pageTable {
		out = append(out, Page{p.method, p.path, names[p.access], p.role})
	}
	return out
}
