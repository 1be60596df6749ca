package workspace

import (
	"net/http"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- models

func validateModelRequest(m *client.ModelRequest) error {
	return firstErr(checkName("name", m.Name),
		checkText("description", m.Description, 65535), checkText("license", m.License, 65535),
		checkText("audience", m.Audience, 65535), checkText("use_cases", m.UseCases, 65535),
		checkText("limitations", m.Limitations, 65535), checkText("trade_offs", m.TradeOffs, 65535),
		checkText("ethics", m.Ethics, 65535), checkTags("tags", m.Tags))
}

func validateModelUpdate(m *client.ModelUpdate) error {
	return firstErr(checkOptName("name", m.Name),
		checkOptText("description", m.Description, 65535), checkOptText("license", m.License, 65535),
		checkOptText("audience", m.Audience, 65535), checkOptText("use_cases", m.UseCases, 65535),
		checkOptText("limitations", m.Limitations, 65535), checkOptText("trade_offs", m.TradeOffs, 65535),
		checkOptText("ethics", m.Ethics, 65535), checkTags("add_tags", m.AddTags), checkTags("remove_tags", m.RemoveTags))
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, modelSpec, rtModel, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListModels(r.Context(), lq))
}

func (s *Server) createModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ModelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateModelRequest(&req); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtModel)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateModel(r.Context(), p.UserID, project, req))
}

// models is how the handlers read a model and learn whose it is.
func (s *Server) models() family[client.Model] {
	return family[client.Model]{rtModel, s.store.Model, func(v client.Model) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) model(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.Model, error) {
	return s.models().inPath(s, r, p, action, hydrate)
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.models())
}

func (s *Server) updateModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.ModelUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := validateModelUpdate(&u); err != nil {
		return err
	}
	m, err := s.model(r, p, rbac.Update, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateModel(r.Context(), p.UserID, m.ID, u))
}

func (s *Server) deleteModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.models(), s.store.DeleteModel)
}

// ---- model versions

func (s *Server) listModelVersions(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, modelVersionSpec, rtModelVersion, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListModelVersions(r.Context(), lq))
}

func (s *Server) createModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ModelVersionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var nameErr error
	if req.Name != "" {
		nameErr = checkName("name", req.Name)
	}
	if err := firstErr(checkName("model", req.Model), nameErr, checkText("description", req.Description, 65535), checkTags("tags", req.Tags)); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtModelVersion)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateModelVersion(r.Context(), p.UserID, project, req))
}

// modelVersions is how the handlers read a model version and learn whose it is.
func (s *Server) modelVersions() family[client.ModelVersion] {
	return family[client.ModelVersion]{rtModelVersion, s.store.ModelVersion, func(v client.ModelVersion) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) modelVersion(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.ModelVersion, error) {
	return s.modelVersions().inPath(s, r, p, action, hydrate)
}

func (s *Server) getModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.modelVersions())
}

// updateModelVersion needs promote, not just update, to change a stage.
func (s *Server) updateModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.ModelVersionUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	var stageErr error
	if u.Stage != nil {
		stageErr = checkStatus("stage", *u.Stage, client.ModelStages)
	}
	if err := firstErr(checkOptName("name", u.Name), checkOptText("description", u.Description, 65535), stageErr,
		checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags)); err != nil {
		return err
	}
	action := rbac.Update
	if u.Stage != nil {
		action = rbac.Promote
	}
	v, err := s.modelVersion(r, p, action, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateModelVersion(r.Context(), p.UserID, v.ID, u))
}

func (s *Server) deleteModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.modelVersions(), s.store.DeleteModelVersion)
}
