package workspace

import (
	"net/http"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/httpapi"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- secrets: values only to those allowed read_secret_value, never in
// lists; a private secret only to its owner.

const maxSecretValues = 64 << 10

func checkSecretValues[V string | *string](vals map[string]V) error {
	if len(vals) > 200 {
		return errs.E(errs.Invalid, "values: at most 200 keys")
	}
	size := 0
	for k, v := range vals {
		if err := checkName("values key", k); err != nil {
			return err
		}
		size += len(k)
		switch x := any(v).(type) {
		case string:
			size += len(x)
		case *string:
			if x != nil {
				size += len(*x)
			}
		}
	}
	if size > maxSecretValues {
		return errs.E(errs.Invalid, "values are larger than %d bytes", maxSecretValues)
	}
	return nil
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, secretSpec, rtSecret, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListSecrets(r.Context(), p.UserID, lq))
}

func (s *Server) createSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.SecretRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkSecretValues(req.Values)); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Create, rtSecret, "", "", ""); err != nil {
		return err
	}
	return respond(w)(s.store.CreateSecret(r.Context(), p.UserID, req))
}

// secret reads the {id} secret (keys only) and checks p's action on it. A
// private secret of someone else does not exist for p.
func (s *Server) secret(r *http.Request, p *principal, action rbac.Action) (client.Secret, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return client.Secret{}, err
	}
	sec, err := s.store.Secret(r.Context(), id, false)
	if err != nil {
		return sec, err
	}
	if sec.Body.Private && sec.Body.UserID != p.UserID {
		return client.Secret{}, errs.E(errs.NotFound, "secret %s not found", id)
	}
	return sec, s.authorize(r.Context(), p, action, rtSecret, "", id, sec.Body.UserID)
}

// getSecret shows values when p may read them, keys with null values
// otherwise.
func (s *Server) getSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, err := hydrate(r); err != nil {
		return err
	}
	sec, err := s.secret(r, p, rbac.Read)
	if err != nil {
		return err
	}
	err = s.authorize(r.Context(), p, rbac.ReadSecretValue, rtSecret, "", sec.ID, sec.Body.UserID)
	switch {
	case err == nil:
		return respond(w)(s.store.Secret(r.Context(), sec.ID, true))
	case errs.Is(err, errs.Forbidden):
		return ok(w, sec)
	}
	return err
}

func (s *Server) updateSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.SecretUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkSecretValues(u.Values)); err != nil {
		return err
	}
	sec, err := s.secret(r, p, rbac.Update)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateSecret(r.Context(), sec.ID, u))
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	sec, err := s.secret(r, p, rbac.Delete)
	if err != nil {
		return err
	}
	if err := s.store.DeleteSecret(r.Context(), sec.ID); err != nil {
		return err
	}
	s.forget(r.Context(), rtSecret, "", sec.ID)
	return ok(w, nil)
}

// ---- tags

func (s *Server) listTags(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, tagSpec, "", false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListTags(r.Context(), lq))
}

func checkColor(c *string) error {
	if c == nil || *c == "" {
		return nil
	}
	return checkStatus("color", *c, client.TagColors)
}

func (s *Server) createTag(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.TagRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkColor(&req.Color)); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Create, rtTag, "", "", ""); err != nil {
		return err
	}
	return respond(w)(s.store.CreateTag(r.Context(), p.UserID, req))
}

func (s *Server) getTag(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	return respond(w)(s.store.Tag(r.Context(), r.PathValue("id"), h))
}

func (s *Server) updateTag(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.TagUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if u.Color != nil && *u.Color == "" {
		return errs.E(errs.Invalid, "color must not be empty")
	}
	if err := firstErr(checkOptName("name", u.Name), checkColor(u.Color)); err != nil {
		return err
	}
	t, err := s.store.Tag(r.Context(), id, false)
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Update, rtTag, "", id, t.Body.UserID); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateTag(r.Context(), id, u))
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	t, err := s.store.Tag(r.Context(), id, false)
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Delete, rtTag, "", id, t.Body.UserID); err != nil {
		return err
	}
	if err := s.store.DeleteTag(r.Context(), id); err != nil {
		return err
	}
	s.forget(r.Context(), rtTag, "", id)
	return ok(w, nil)
}

// ---- run metadata

func validateRunMetadata(req *client.RunMetadataRequest) error {
	if len(req.Resources) == 0 || len(req.Resources) > 100 {
		return errs.E(errs.Invalid, "resources: give 1 to 100 resources")
	}
	for _, res := range req.Resources {
		if _, ok := metadataTypes[res.Type]; !ok {
			return errs.E(errs.Invalid, "resources: type %q is not one of pipeline_run, step_run, artifact_version, model_version", res.Type)
		}
		if !validID(res.ID) {
			return errs.E(errs.Invalid, "resources: %q is not an id", res.ID)
		}
	}
	if len(req.Values) == 0 || len(req.Values) > 1000 {
		return errs.E(errs.Invalid, "values: give 1 to 1000 values")
	}
	for k := range req.Values {
		if err := checkName("values key", k); err != nil {
			return err
		}
	}
	for k, t := range req.Types {
		if _, ok := req.Values[k]; !ok {
			return errs.E(errs.Invalid, "types: %q has no value", k)
		}
		if err := checkText("types", t, 32); err != nil {
			return err
		}
	}
	if req.PublisherStepID != nil && !validID(*req.PublisherStepID) {
		return errs.E(errs.Invalid, "publisher_step_id is not an id")
	}
	if len(jsonText(req.Values)) > 1<<20 {
		return errs.E(errs.Invalid, "values are larger than 1 MiB")
	}
	return nil
}

// createRunMetadata attaches values; p needs update on each resource (the
// owner always may).
func (s *Server) createRunMetadata(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.RunMetadataRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateRunMetadata(&req); err != nil {
		return err
	}
	ctx := r.Context()
	for _, res := range req.Resources {
		var project, owner string
		var typ rbac.ResourceType
		switch res.Type {
		case "pipeline_run":
			run, err := s.store.Run(ctx, res.ID, false)
			if err != nil {
				return err
			}
			project, owner, typ = run.Body.ProjectID, run.Body.UserID, rtRun
		case "step_run":
			runID, pid, o, err := s.store.stepRun(ctx, res.ID)
			if err != nil {
				return err
			}
			res.ID, project, owner, typ = runID, pid, o, rtRun
		case "artifact_version":
			v, err := s.store.ArtifactVersion(ctx, res.ID, false)
			if err != nil {
				return err
			}
			project, owner, typ = v.Body.ProjectID, v.Body.UserID, rtArtifactVersion
		case "model_version":
			v, err := s.store.ModelVersion(ctx, res.ID, false)
			if err != nil {
				return err
			}
			project, owner, typ = v.Body.ProjectID, v.Body.UserID, rtModelVersion
		}
		if err := s.authorize(ctx, p, rbac.Update, typ, project, res.ID, owner); err != nil {
			return err
		}
	}
	if err := s.store.AddRunMetadata(ctx, p.UserID, req); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, nil)
	return nil
}
