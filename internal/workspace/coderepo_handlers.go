package workspace

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

func (s *Server) listCodeRepositories(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, codeRepoSpec, rtCodeRepository, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListCodeRepositories(r.Context(), lq))
}

func (s *Server) createCodeRepository(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.CodeRepositoryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	src, err := checkSource(req.Source)
	if err != nil {
		return err
	}
	req.Source = src
	if err := firstErr(checkName("name", req.Name), checkJSONSize("config", req.Config),
		checkLogoURL(req.LogoURL), checkOptText("description", req.Description, 65535)); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtCodeRepository)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateCodeRepository(r.Context(), p.UserID, project, req))
}

// codeRepositories is how the handlers read a code repository and learn whose it is.
func (s *Server) codeRepositories() family[client.CodeRepository] {
	return family[client.CodeRepository]{rtCodeRepository, s.store.CodeRepository, func(v client.CodeRepository) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) getCodeRepository(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.codeRepositories())
}

func (s *Server) updateCodeRepository(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.CodeRepositoryUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkJSONSize("config", u.Config),
		checkLogoURL(u.LogoURL), checkOptText("description", u.Description, 65535)); err != nil {
		return err
	}
	if _, err := s.codeRepositories().authorized(s, r, p, rbac.Update, id, false); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateCodeRepository(r.Context(), id, u))
}

func (s *Server) deleteCodeRepository(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.codeRepositories(), s.store.DeleteCodeRepository)
}

// checkSource reads the source of a code repository: the class that reads
// it, as the SDK writes a source, {"module": ..., "attribute": ...,
// "type": ...} (other keys kept), or as a dotted path "module.Class", which
// becomes {"module", "attribute", "type": "unknown"}. It returns the
// object, compacted.
func checkSource(raw json.RawMessage) (json.RawMessage, error) {
	bad := errs.E(errs.Invalid, `source must name the repository's class: {"module": "...", "attribute": "...", "type": "..."} or "module.Class"`)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, bad
	}
	var dotted string
	if json.Unmarshal(raw, &dotted) == nil {
		i := strings.LastIndex(dotted, ".")
		if i <= 0 || i == len(dotted)-1 || len(dotted) > 1024 || strings.TrimSpace(dotted) != dotted {
			return nil, bad
		}
		return json.Marshal(map[string]string{"module": dotted[:i], "attribute": dotted[i+1:], "type": "unknown"})
	}
	var src map[string]any
	if json.Unmarshal(raw, &src) != nil {
		return nil, bad
	}
	if m, ok := src["module"].(string); !ok || strings.TrimSpace(m) == "" {
		return nil, bad
	}
	for _, k := range []string{"attribute", "type"} {
		if v, ok := src[k]; ok && v != nil {
			if _, isStr := v.(string); !isStr {
				return nil, errs.E(errs.Invalid, "source.%s must be a string", k)
			}
		}
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil || out.Len() > 1<<16 {
		return nil, errs.E(errs.Invalid, "source is larger than 64 KiB")
	}
	return out.Bytes(), nil
}

// checkLogoURL: empty (no logo) or an http(s) URL, which a browser inside
// the network can reach.
func checkLogoURL(v *string) error {
	if v != nil && *v != "" && (!isHTTPURL(*v) || len(*v) > 2048) {
		return errs.E(errs.Invalid, "logo_url must be an http(s) URL (of a server inside your network), or empty to remove the logo")
	}
	return nil
}
