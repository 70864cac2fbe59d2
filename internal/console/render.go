package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/account"
)

// navItem is a link of the menu, shown to roles that may follow it.
type navItem struct {
	Path, Label string
	Role        account.Role
}

var nav = []navItem{
	{"/ui/", "Overview", account.Viewer},
	{"/ui/banks", "Banks", account.Viewer},
	{"/ui/matches", "Match history", account.Moderator},
	{"/ui/debug", "Compare", account.Moderator},
	{"/ui/webhooks", "Webhooks", account.Curator},
	{"/ui/audit", "Audit log", account.Admin},
	{"/ui/users", "Users", account.Admin},
	{"/ui/apikeys", "API keys", account.Admin},
	{"/ui/enrol", "Two-factor", account.Viewer},
}

// view is what every template gets.
type view struct {
	Title string
	User  *account.User
	Nav   []navItem
	Path  string
	Data  any
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		}
		return fmt.Sprint(t)
	},
	"allows": func(u *account.User, role string) bool { return u != nil && u.Role.Allows(account.Role(role)) },
	"roles":  func() []account.Role { return account.Roles },
	"str":    func(b []byte) string { return string(b) },
	"sub":    func(a, b int) int { return a - b },
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("console template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

// render writes the page name with data inside the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, v *visit, status int, name, title string, data any) {
	t := c.pages[name]
	if t == nil {
		panic("console: no template " + name) // a programming error
	}
	vw := view{Title: title, Data: data, Path: r.URL.Path}
	if v != nil && v.has && v.sess.Stage == account.StageFull {
		u := v.user
		vw.User = &u
		for _, n := range nav {
			if u.Role.Allows(n.Role) {
				vw.Nav = append(vw.Nav, n)
			}
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, vw); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
