package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	apiv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	"github.com/modelcontextprotocol/registry/pkg/model"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
)

const root = "../.."

func readJSON(t *testing.T, name string, v any) []byte {
	t.Helper()
	raw, err := os.ReadFile(root + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return raw
}

func option(name string) (server.Option, bool) {
	for _, o := range server.Options {
		if o.Env == name {
			return o, true
		}
	}
	return server.Option{}, false
}

// TestManifestMatchesCode: the MCPB manifest lists exactly the live tools, carries VERSION,
// and passes only variables the server reads, secrets marked sensitive.
func TestManifestMatchesCode(t *testing.T) {
	var m map[string]any
	raw := readJSON(t, "manifest.json", &m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	live, err := LiveTools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []ToolEntry
	b, _ := json.Marshal(m["tools"])
	_ = json.Unmarshal(b, &listed)
	if !reflect.DeepEqual(listed, live) {
		t.Errorf("manifest.json tools differ from tools/list: run `make mcpb-manifest`\nmanifest: %v\nlive: %v", listed, live)
	}
	version, err := Version(root)
	if err != nil {
		t.Fatal(err)
	}
	if m["version"] != version {
		t.Errorf("manifest.json version %v, VERSION %s", m["version"], version)
	}
	canon, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(canon, raw) {
		t.Error("manifest.json is not in its generated form: run `make mcpb-manifest`")
	}
	var manifest struct {
		Server struct {
			MCPConfig struct {
				Env map[string]string `json:"env"`
			} `json:"mcp_config"`
		} `json:"server"`
		UserConfig map[string]struct {
			Sensitive bool `json:"sensitive"`
		} `json:"user_config"`
	}
	readJSON(t, "manifest.json", &manifest)
	ref := regexp.MustCompile(`^\$\{user_config\.([a-z_]+)\}$`)
	for env, val := range manifest.Server.MCPConfig.Env {
		o, ok := option(env)
		if !ok {
			t.Errorf("manifest passes %s, which the server does not read", env)
			continue
		}
		mm := ref.FindStringSubmatch(val)
		if mm == nil {
			t.Errorf("%s = %q is not a ${user_config.x} reference", env, val)
			continue
		}
		uc, ok := manifest.UserConfig[mm[1]]
		if !ok {
			t.Errorf("%s refers to missing user_config %s", env, mm[1])
		}
		if o.Secret != uc.Sensitive {
			t.Errorf("user_config %s: sensitive=%v but the option is secret=%v", mm[1], uc.Sensitive, o.Secret)
		}
	}
	if _, ok := manifest.Server.MCPConfig.Env["TALLYFY_ACCESS_TOKEN"]; !ok {
		t.Error("manifest does not pass the access token")
	}
}

// TestServerJSONValidForRegistry decodes server.json strictly into the official registry's
// types (github.com/modelcontextprotocol/registry) and checks their declared constraints.
func TestServerJSONValidForRegistry(t *testing.T) {
	raw, err := os.ReadFile(root + "/server.json")
	if err != nil {
		t.Fatal(err)
	}
	var s apiv0.ServerJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("server.json does not match the registry's ServerJSON type: %v", err)
	}
	if s.Schema != model.CurrentSchemaURL {
		t.Errorf("$schema %s, the registry's current one is %s", s.Schema, model.CurrentSchemaURL)
	}
	for _, p := range checkTags(reflect.ValueOf(s), "server") {
		t.Error(p)
	}
	version, _ := Version(root)
	if s.Version != version {
		t.Errorf("server.json version %s, VERSION %s", s.Version, version)
	}
	if len(s.Packages) == 0 {
		t.Fatal("server.json lists no package")
	}
	for _, p := range s.Packages {
		if p.Transport.Type != "stdio" {
			t.Errorf("package %s: transport %s, want stdio", p.Identifier, p.Transport.Type)
		}
		if p.RegistryType == "oci" && !strings.HasSuffix(p.Identifier, ":"+version) {
			t.Errorf("oci identifier %s does not carry version %s", p.Identifier, version)
		}
		secretSeen := false
		for _, ev := range p.EnvironmentVariables {
			o, ok := option(ev.Name)
			if !ok {
				t.Errorf("server.json names %s, which the server does not read", ev.Name)
				continue
			}
			if o.Secret != ev.IsSecret {
				t.Errorf("%s: isSecret=%v, option secret=%v", ev.Name, ev.IsSecret, o.Secret)
			}
			secretSeen = secretSeen || ev.IsSecret
		}
		if !secretSeen {
			t.Error("server.json marks no variable secret")
		}
	}
}

// checkTags enforces the minLength/maxLength/pattern tags the registry declares on its types.
func checkTags(v reflect.Value, path string) []string {
	var problems []string
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			problems = append(problems, checkTags(v.Elem(), path)...)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			problems = append(problems, checkTags(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			name := path + "." + strings.Split(f.Tag.Get("json"), ",")[0]
			if fv.Kind() == reflect.String {
				s := fv.String()
				omitempty := strings.Contains(f.Tag.Get("json"), "omitempty")
				if s == "" && omitempty {
					continue
				}
				if n, err := strconv.Atoi(f.Tag.Get("minLength")); err == nil && len(s) < n {
					problems = append(problems, fmt.Sprintf("%s: shorter than %d", name, n))
				}
				if n, err := strconv.Atoi(f.Tag.Get("maxLength")); err == nil && len(s) > n {
					problems = append(problems, fmt.Sprintf("%s: longer than %d (%d)", name, n, len(s)))
				}
				if p := f.Tag.Get("pattern"); p != "" && !regexp.MustCompile(p).MatchString(s) {
					problems = append(problems, fmt.Sprintf("%s: %q does not match %s", name, s, p))
				}
				continue
			}
			problems = append(problems, checkTags(fv, name)...)
		}
	}
	return problems
}
