package preflight

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// The token, organization and role checks pass on every identity answer the contract corpus
// holds (tallyfy/testdata/contract/SOURCES.md): a documented shape is never a ✗.
func TestCheckIdentityOnTheContractCorpus(t *testing.T) {
	t.Parallel()
	const checkedOrg = "4c5d6e7f8091a2b3c4d5e6f708192a3b" // the organization the corpus files list
	body := func(name string) json.RawMessage {
		b, err := os.ReadFile(filepath.Join("..", "tallyfy", "testdata", "contract", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Body json.RawMessage }
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		return f.Body
	}
	wantRole := map[string]string{ // what the role line must say
		"list-my-organizations.swagger": "admin: Tallyfy lets this user archive, restore and permanently delete",
		"list-my-organizations.cli":     "not known: Tallyfy did not say which role you have",
		"list-my-organizations.mcp":     "not known: Tallyfy did not say which role you have",
	}
	for _, me := range []string{"get-me.cli", "get-me.n8n"} {
		for orgs, role := range wantRole {
			t.Run(me+"+"+orgs, func(t *testing.T) {
				t.Parallel()
				meBody, orgsBody := body(me), body(orgs)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					switch r.URL.Path {
					case "/me":
						_, _ = w.Write(meBody)
					case "/me/organizations":
						_, _ = w.Write(orgsBody)
					default:
						w.WriteHeader(http.StatusNotFound)
					}
				}))
				t.Cleanup(srv.Close)
				c, err := tallyfy.New(tallyfy.Config{BaseURL: srv.URL, Token: "corpus-token", OrgID: checkedOrg, RequestTimeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				rep := &Report{BaseURL: srv.URL, OrgID: checkedOrg}
				tok, stop := checkToken(context.Background(), c, rep)
				org, notMember := checkOrganization(context.Background(), c, rep)
				rep.add(tok)
				rep.add(org)
				rl := checkRole(rep, org.ShapeIssues)
				for _, ch := range []Check{tok, org, rl} {
					// A role Tallyfy does not say is not checked: never a ✓.
					want := StatusOK
					if ch.Name == "role" && strings.HasPrefix(role, "not known") {
						want = StatusSkipped
					}
					if ch.Status != want || len(ch.ShapeIssues) > 0 {
						t.Errorf("%s = %+v", ch.Name, ch)
					}
				}
				if stop || notMember || rep.User == nil || rep.User.ID == "" || !strings.Contains(tok.Message, "id "+rep.User.ID) {
					t.Errorf("token: %+v, user %+v", tok, rep.User)
				}
				if !strings.HasPrefix(rl.Message, role) {
					t.Errorf("role = %q, want it to start %q", rl.Message, role)
				}
			})
		}
	}
}
