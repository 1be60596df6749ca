package workspace

import (
	"encoding/json"
	"net/http"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- artifacts

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, artifactSpec, rtArtifact, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListArtifacts(r.Context(), lq))
}

func (s *Server) createArtifact(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ArtifactRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkTags("tags", req.Tags)); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtArtifact)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateArtifact(r.Context(), p.UserID, project, req))
}

// artifacts is how the handlers read an artifact and learn whose it is.
func (s *Server) artifacts() family[client.Artifact] {
	return family[client.Artifact]{rtArtifact, s.store.Artifact, func(v client.Artifact) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) artifact(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.Artifact, error) {
	return s.artifacts().inPath(s, r, p, action, hydrate)
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.artifacts())
}

func (s *Server) updateArtifact(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.ArtifactUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags)); err != nil {
		return err
	}
	a, err := s.artifact(r, p, rbac.Update, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateArtifact(r.Context(), p.UserID, a.ID, u))
}

func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.artifacts(), s.store.DeleteArtifact)
}

// ---- artifact versions

var artifactTypes = []string{"DataArtifact", "ModelArtifact", "SchemaArtifact", "ServiceArtifact",
	"StatisticsArtifact", "DataAnalysisArtifact", "BaseArtifact", "ZenMLArtifact"}

func validateArtifactVersionRequest(req *client.ArtifactVersionRequest) error {
	var refErr error
	switch {
	case req.ArtifactID == "" && req.ArtifactName == "":
		refErr = errs.E(errs.Invalid, "artifact_id or artifact_name is required")
	case req.ArtifactID != "" && req.ArtifactName != "":
		refErr = errs.E(errs.Invalid, "give artifact_id or artifact_name, not both")
	case req.ArtifactID != "" && !validID(req.ArtifactID):
		refErr = errs.E(errs.Invalid, "artifact_id %q is not an id", req.ArtifactID)
	case req.ArtifactName != "":
		refErr = checkName("artifact_name", req.ArtifactName)
	}
	var verErr error
	if req.Version != "" {
		verErr = checkName("version", req.Version)
	}
	return firstErr(refErr, verErr,
		checkStatus("type", req.Type, artifactTypes),
		checkName("uri", req.URI), checkText("uri", req.URI, 4096),
		checkText("save_type", req.SaveType, 32),
		sourceField("materializer", req.Materializer), sourceField("data_type", req.DataType),
		checkTags("tags", req.Tags))
}

// sourceField accepts a source as a string or an object, at most 64 KiB.
func sourceField(name string, b json.RawMessage) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if len(b) > 64<<10 {
		return errs.E(errs.Invalid, "%s is larger than 64 KiB", name)
	}
	var s string
	if json.Unmarshal(b, &s) == nil || rawObject(b) {
		return nil
	}
	return errs.E(errs.Invalid, "%s must be a string or an object", name)
}

func (s *Server) listArtifactVersions(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, artifactVersionSpec, rtArtifactVersion, true)
	if err != nil {
		return err
	}
	if v := lq.params.Get("consumed_by_step_id"); v != "" && !validID(v) {
		return errs.E(errs.Invalid, "consumed_by_step_id %q is not an id", v)
	}
	return respond(w)(s.store.ListArtifactVersions(r.Context(), lq))
}

func (s *Server) createArtifactVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ArtifactVersionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateArtifactVersionRequest(&req); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtArtifactVersion)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateArtifactVersion(r.Context(), p.UserID, project, req))
}

// artifactVersions is how the handlers read an artifact version and learn whose it is.
func (s *Server) artifactVersions() family[client.ArtifactVersion] {
	return family[client.ArtifactVersion]{rtArtifactVersion, s.store.ArtifactVersion, func(v client.ArtifactVersion) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) artifactVersion(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.ArtifactVersion, error) {
	return s.artifactVersions().inPath(s, r, p, action, hydrate)
}

func (s *Server) getArtifactVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.artifactVersions())
}

func (s *Server) updateArtifactVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.ArtifactVersionUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags)); err != nil {
		return err
	}
	v, err := s.artifactVersion(r, p, rbac.Update, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateArtifactVersion(r.Context(), p.UserID, v.ID, u))
}

func (s *Server) deleteArtifactVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.artifactVersions(), s.store.DeleteArtifactVersion)
}

// maxBatch bounds the items of one batch request.
const maxBatch = 1000

// createArtifactVersions is POST /artifact_versions/batch: a list of
// artifact version requests, answered with the list of versions made, in
// order. The SDK stores a step's outputs this way. Every item is checked
// and authorized first, and all are written in one transaction: a batch
// with one bad item writes nothing.
func (s *Server) createArtifactVersions(w http.ResponseWriter, r *http.Request, p *principal) error {
	var reqs []client.ArtifactVersionRequest
	if err := decode(r, &reqs); err != nil {
		return err
	}
	if len(reqs) == 0 || len(reqs) > maxBatch {
		return errs.E(errs.Invalid, "a batch holds 1 to %d artifact versions, not %d", maxBatch, len(reqs))
	}
	projects := make([]string, len(reqs))
	known := map[string]string{}
	for i := range reqs {
		if err := validateArtifactVersionRequest(&reqs[i]); err != nil {
			return itemErr(i, err)
		}
		ref := reqs[i].Project
		id, ok := known[ref]
		if !ok {
			var err error
			if id, err = s.projectFor(r.Context(), p, ref, rtArtifactVersion); err != nil {
				return itemErr(i, err)
			}
			known[ref] = id
		}
		projects[i] = id
	}
	return respond(w)(s.store.CreateArtifactVersions(r.Context(), p.UserID, projects, reqs))
}
